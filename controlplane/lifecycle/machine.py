"""States, events and the transition table of Figure 5.

Figure 5 draws four states: Pre-Association, Association, Suspension and Termination, plus the
start point (a VM the NVE does not know, State.NONE). Its messages:

    NONE            --Pre-Asso | Immigration(Pre-Asso)-->   PRE_ASSOCIATED
    NONE            --Asso | Immigration(Asso)-->           ASSOCIATED
    PRE_ASSOCIATED  --Asso | Immigration(Asso)-->           ASSOCIATED
    ASSOCIATED      --Emigration | Immigration(Asso)-->     ASSOCIATED   (the self loop)
    ASSOCIATED      --Suspension-->                         SUSPENDED
    SUSPENDED       --Resume-->                             ASSOCIATED
    PRE_ASSOCIATED, ASSOCIATED, SUSPENDED --Termination | Aged out--> TERMINATED
    TERMINATED      --> NONE (the NVE forgets the VM; it may be signalled again from the start)

Emigration keeps the VM in Association but inactive until it is terminated here (migration
succeeded) or immigrates back (migration failed, §3.2.6); Phase.emigrated records that.
A repeat of the request that led to the current state is accepted with no change (§3.3.2: "NVE do
nothing except for update the VM's timer"), and so is Resume of a VM that was not suspended (§3.3.4).
Keep-alive refreshes the timer of a VM in any state it can age out of (§3.3.8).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from controlplane.errors import NveError


class State(enum.Enum):
    """Signalling states of one VM on one NVE."""

    NONE = "none"
    PRE_ASSOCIATED = "pre-associated"
    ASSOCIATED = "associated"
    SUSPENDED = "suspended"
    TERMINATED = "terminated"


class Event(enum.Enum):
    """Messages from the hypervisor, plus AGE_OUT raised by the NVE itself."""

    PRE_ASSOCIATE = "pre-associate"
    ASSOCIATE = "associate"
    IMMIGRATE_PRE_ASSOCIATE = "immigrate(pre-associate)"
    IMMIGRATE_ASSOCIATE = "immigrate(associate)"
    SUSPEND = "suspend"
    RESUME = "resume"
    EMIGRATE = "emigrate"
    TERMINATE = "terminate"
    KEEPALIVE = "keep-alive"
    AGE_OUT = "aged out"


@dataclass(frozen=True, slots=True)
class Phase:
    """Where a VM is in the machine. `emigrated` only ever holds in ASSOCIATED."""

    state: State
    emigrated: bool = False

    @property
    def active(self) -> bool:
        """True when the VM's frames may be forwarded."""
        return self.state is State.ASSOCIATED and not self.emigrated

    def __str__(self) -> str:
        return f"{self.state.value}{' (emigrated)' if self.emigrated else ''}"


@dataclass(frozen=True, slots=True)
class Step:
    """The outcome of one event: the next phase and whether anything changed."""

    phase: Phase
    changed: bool


class InvalidTransition(NveError):
    """The event is not allowed in the VM's current phase."""

    def __init__(self, phase: Phase, event: Event) -> None:
        self.phase = phase
        self.event = event
        super().__init__(f"{event.value} is not allowed in state {phase}")


NONE = Phase(State.NONE)
PRE_ASSOCIATED = Phase(State.PRE_ASSOCIATED)
ASSOCIATED = Phase(State.ASSOCIATED)
EMIGRATED = Phase(State.ASSOCIATED, emigrated=True)
SUSPENDED = Phase(State.SUSPENDED)
TERMINATED = Phase(State.TERMINATED)

_ENDS = (Event.TERMINATE, Event.AGE_OUT)

# (phase, event) -> next phase; anything absent is illegal.
_TABLE: dict[tuple[Phase, Event], Phase] = {
    (NONE, Event.PRE_ASSOCIATE): PRE_ASSOCIATED,
    (NONE, Event.IMMIGRATE_PRE_ASSOCIATE): PRE_ASSOCIATED,
    (NONE, Event.ASSOCIATE): ASSOCIATED,
    (NONE, Event.IMMIGRATE_ASSOCIATE): ASSOCIATED,
    (PRE_ASSOCIATED, Event.PRE_ASSOCIATE): PRE_ASSOCIATED,
    (PRE_ASSOCIATED, Event.IMMIGRATE_PRE_ASSOCIATE): PRE_ASSOCIATED,
    (PRE_ASSOCIATED, Event.ASSOCIATE): ASSOCIATED,
    (PRE_ASSOCIATED, Event.IMMIGRATE_ASSOCIATE): ASSOCIATED,
    (PRE_ASSOCIATED, Event.KEEPALIVE): PRE_ASSOCIATED,
    (ASSOCIATED, Event.ASSOCIATE): ASSOCIATED,
    (ASSOCIATED, Event.IMMIGRATE_ASSOCIATE): ASSOCIATED,
    (ASSOCIATED, Event.EMIGRATE): EMIGRATED,
    (ASSOCIATED, Event.SUSPEND): SUSPENDED,
    (ASSOCIATED, Event.RESUME): ASSOCIATED,
    (ASSOCIATED, Event.KEEPALIVE): ASSOCIATED,
    (EMIGRATED, Event.EMIGRATE): EMIGRATED,
    (EMIGRATED, Event.IMMIGRATE_ASSOCIATE): ASSOCIATED,
    (EMIGRATED, Event.KEEPALIVE): EMIGRATED,
    (SUSPENDED, Event.SUSPEND): SUSPENDED,
    (SUSPENDED, Event.RESUME): ASSOCIATED,
    (SUSPENDED, Event.KEEPALIVE): SUSPENDED,
    **{(phase, end): TERMINATED
       for phase in (PRE_ASSOCIATED, ASSOCIATED, EMIGRATED, SUSPENDED) for end in _ENDS},
}


def transition(phase: Phase, event: Event) -> Step:
    """The next phase after `event`, or InvalidTransition naming the phase and the event."""
    try:
        following = _TABLE[(phase, event)]
    except KeyError:
        raise InvalidTransition(phase, event) from None
    return Step(following, changed=following != phase)


def is_aged_out(last_seen: float, now: float, aging_time: float) -> bool:
    """True when a VM silent since `last_seen` has outlived the aging time at `now`."""
    return now - last_seen > aging_time
