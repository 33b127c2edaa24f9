"""Desired table state: VM records plus static config -> the entries each switch must hold.

No I/O and no clock. `desired.py` builds the entries slice by slice; `tracker.py` keeps every
switch's slices up to date change by change and says what each change added and removed; the
switch agent writes that, or diffs the whole state against what it read back.
"""

from controlplane.intent.desired import DesiredState, desired_state

__all__ = ["DesiredState", "desired_state"]
