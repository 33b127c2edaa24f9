"""Every (phase, event) pair of Figure 5, legal and illegal, against a table written out by hand."""

from __future__ import annotations

import itertools

import pytest

from controlplane.lifecycle import Event, InvalidTransition, Phase, State, is_aged_out, transition

N = Phase(State.NONE)
P = Phase(State.PRE_ASSOCIATED)
A = Phase(State.ASSOCIATED)
E = Phase(State.ASSOCIATED, emigrated=True)
S = Phase(State.SUSPENDED)
T = Phase(State.TERMINATED)

# Rows: current phase; columns in Event order. None = illegal.
#            PRE   ASSO  IM_PRE IM_ASSO SUSP  RES   EMIG  TERM  KA    AGE
EXPECTED = {
    N: (P, A, P, A, None, None, None, None, None, None),
    P: (P, A, P, A, None, None, None, T, P, T),
    A: (None, A, None, A, S, A, E, T, A, T),
    E: (None, None, None, A, None, None, E, T, E, T),
    S: (None, None, None, None, S, A, None, T, S, T),
    T: (None,) * 10,
}
EVENTS = (Event.PRE_ASSOCIATE, Event.ASSOCIATE, Event.IMMIGRATE_PRE_ASSOCIATE,
          Event.IMMIGRATE_ASSOCIATE, Event.SUSPEND, Event.RESUME, Event.EMIGRATE,
          Event.TERMINATE, Event.KEEPALIVE, Event.AGE_OUT)


def test_table_covers_every_event() -> None:
    assert set(EVENTS) == set(Event)


@pytest.mark.parametrize(("phase", "event"), list(itertools.product(EXPECTED, EVENTS)),
                         ids=lambda x: str(x))
def test_every_pair(phase: Phase, event: Event) -> None:
    expected = EXPECTED[phase][EVENTS.index(event)]
    if expected is None:
        with pytest.raises(InvalidTransition) as info:
            transition(phase, event)
        assert info.value.phase == phase and info.value.event == event
        assert event.value in str(info.value) and phase.state.value in str(info.value)
    else:
        step = transition(phase, event)
        assert step.phase == expected
        assert step.changed == (expected != phase)


def test_only_plain_association_is_active() -> None:
    assert [p.active for p in (N, P, A, E, S, T)] == [False, False, True, False, False, False]


def test_aging() -> None:
    assert not is_aged_out(last_seen=100.0, now=130.0, aging_time=30.0)
    assert is_aged_out(last_seen=100.0, now=130.5, aging_time=30.0)
