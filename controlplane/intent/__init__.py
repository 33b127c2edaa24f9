"""Desired table state: VM records plus static config -> the entries each switch must hold.

Pure functions; no I/O and no clock. The reconciler diffs their output against what is installed.
"""

from controlplane.intent.desired import DesiredState, desired_state

__all__ = ["DesiredState", "desired_state"]
