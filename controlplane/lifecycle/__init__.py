"""The TES->NVE signalling state machine (Figure 5 of draft-gu-nvo3-tes-nve-mechanism-01).

Pure: no I/O, no clock, no asyncio. `transition` takes the VM's current phase and an event and
returns the next phase, or raises InvalidTransition naming both.
"""

from controlplane.lifecycle.machine import (
    Event,
    InvalidTransition,
    Phase,
    State,
    Step,
    is_aged_out,
    transition,
)

__all__ = ["Event", "InvalidTransition", "Phase", "State", "Step", "is_aged_out", "transition"]
