"""Value types of controlplane.p4rt.entries: canonical form, identity, structural checks."""

from __future__ import annotations

import pytest

from controlplane.errors import NveError
from controlplane.p4rt.entries import (
    DefaultAction,
    Entry,
    Exact,
    Lpm,
    MulticastGroup,
    Optional,
    Range,
    Ternary,
    Update,
    ValueSet,
    WriteOp,
)
from controlplane.p4rt.errors import P4ValueError


def test_match_and_params_are_stored_sorted_whatever_the_input_order() -> None:
    a = Entry("T", {"b": Exact(2), "a": Exact(1)}, "act", {"y": 2, "x": 1})
    b = Entry("T", [("a", Exact(1)), ("b", Exact(2))], "act", [("x", 1), ("y", 2)])
    assert a == b
    assert hash(a) == hash(b)
    assert a.match == (("a", Exact(1)), ("b", Exact(2)))
    assert a.params == (("x", 1), ("y", 2))


def test_key_is_table_match_priority_and_ignores_the_action() -> None:
    a = Entry("T", {"f": Ternary(1, 1)}, "permit", priority=5)
    b = Entry("T", {"f": Ternary(1, 1)}, "deny", {"p": 3}, priority=5)
    c = Entry("T", {"f": Ternary(1, 1)}, "permit", priority=6)
    assert a.key() == b.key() == ("T", (("f", Ternary(1, 1)),), 5)
    assert a != b
    assert a.key() != c.key()


def test_entries_form_a_frozenset_desired_state() -> None:
    state = frozenset(
        {Entry("T", {"f": Exact(1)}, "a"), Entry("T", {"f": Exact(1)}, "a"), Entry("T", {}, "a")}
    )
    assert len(state) == 2


def test_entities_are_frozen() -> None:
    entry = Entry("T", {}, "a")
    with pytest.raises(AttributeError):
        entry.table = "U"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: Exact(-1), "must be >= 0"),
        (lambda: Exact(True), "must be an int"),
        (lambda: Exact("1"), "must be an int"),  # type: ignore[arg-type]
        (lambda: Lpm(0, -1), "prefix_len must be >= 0"),
        (lambda: Ternary(0b110, 0b010), "bits outside mask"),
        (lambda: Range(5, 4), "low 5 > high 4"),
        (lambda: Optional(-3), "must be >= 0"),
        (lambda: Entry("", {}, "a"), "table must be"),
        (lambda: Entry("T", {}, ""), "action must be"),
        (lambda: Entry("T", {"f": 1}, "a"), "expected Exact/Lpm"),  # type: ignore[dict-item]
        (lambda: Entry("T", [("f", Exact(1)), ("f", Exact(2))], "a"), "duplicate match field"),
        (lambda: Entry("T", {}, "a", [("p", 1), ("p", 2)]), "duplicate action parameter"),
        (lambda: Entry("T", {}, "a", {"p": -1}), "must be >= 0"),
        (lambda: Entry("T", {}, "a", priority=-1), "priority must be >= 0"),
        (lambda: Entry("T", {}, "a", priority=2**31), "exceeds"),
        (lambda: MulticastGroup(0), "reserved"),
        (lambda: MulticastGroup(1, [(1, 0), (1, 0)]), "duplicate replicas"),
        (lambda: MulticastGroup(1, [(1, 2**16)]), "rid 65536 exceeds"),
        (lambda: MulticastGroup(1, [(1,)]), r"replica must be \(port, rid\)"),  # type: ignore[list-item]
        (lambda: Update(WriteOp.INSERT, DefaultAction("T", "a")), "can only be modified"),
        (lambda: Update(WriteOp.DELETE, ValueSet("V", [1])), "can only be modified"),
        (lambda: ValueSet("V", [-1]), "must be >= 0"),
        (lambda: Update("INSERT", Entry("T", {}, "a")), "op must be a WriteOp"),  # type: ignore[arg-type]
    ],
)
def test_malformed_values_raise_p4valueerror(build: object, message: str) -> None:
    with pytest.raises(P4ValueError, match=message) as info:
        build()  # type: ignore[operator]
    assert isinstance(info.value, NveError)


def test_multicast_replicas_are_sorted_so_order_does_not_matter() -> None:
    assert MulticastGroup(7, [(3, 1), (1, 2)]) == MulticastGroup(7, [(1, 2), (3, 1)])
    assert MulticastGroup(7, [(3, 1), (1, 2)]).replicas == ((1, 2), (3, 1))


def test_default_action_modify_is_accepted() -> None:
    update = Update(WriteOp.MODIFY, DefaultAction("T", "a", {"p": 1}))
    assert update.entity == DefaultAction("T", "a", [("p", 1)])
