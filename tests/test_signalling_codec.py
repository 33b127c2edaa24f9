"""grpc_codec: protobuf <-> typed messages; every decode error names its field."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from controlplane.lifecycle import Event
from controlplane.signalling import grpc_codec as codec
from controlplane.signalling.messages import (
    MAX_ADDRESSES,
    Answer,
    FailReason,
    SignallingError,
    VmRefRequest,
    VnSelector,
)
from controlplane.signalling.proto import nve_signalling_pb2 as pb

sys.path.insert(0, str(Path(__file__).parent / "data" / "signalling"))
from fake_nve import (  # noqa: E402
    COUNTER_VIEWS,
    NOTIFICATIONS,
    PORT_VIEWS,
    TABLE_VIEW,
    VM_ID,
    VM_REQUEST,
    VM_VIEWS,
    VN_VIEWS,
)

MAC = "52:54:00:12:34:56"


def good_request() -> pb.VmRequest:
    """A valid VmRequest with a MAC, an IPv4 and an IPv6 address."""
    return pb.VmRequest(
        vm_id=VM_ID.upper(),
        vn=pb.VnRef(vni=5001),
        addresses=[
            pb.Address(mac=MAC),
            pb.Address(ipv4="10.0.0.5"),
            pb.Address(ipv6="2001:DB8:0::5"),
        ],
        attachment=pb.Attachment(nve="nve1", port=3),
        requested_vid=100,
        vm_class="gold",
        reserve_resources=True,
    )


def test_decode_vm_request_maps_every_field() -> None:
    request = codec.decode_vm_request(Event.PRE_ASSOCIATE, good_request())
    assert request.event is Event.PRE_ASSOCIATE
    assert request.vm_id == VM_ID  # canonical lower case
    assert request.vn == VnSelector(vni=5001)
    assert request.macs == (0x525400123456,)
    assert request.ipv4 == (0x0A000005,)
    assert request.ipv6 == ("2001:db8::5",)
    assert (request.nve, request.port, request.requested_vid) == ("nve1", 3, 100)
    assert (request.vm_class, request.reserve_resources) == ("gold", True)


def test_decode_vm_request_vn_by_name() -> None:
    message = good_request()
    message.vn.name = "blue"
    assert codec.decode_vm_request(Event.ASSOCIATE, message).vn == VnSelector(name="blue")


def _set(path: str, value: object) -> Callable[[pb.VmRequest], None]:
    def mutate(message: pb.VmRequest) -> None:
        *parents, leaf = path.split(".")
        target = message
        for name in parents:
            target = getattr(target, name)
        setattr(target, leaf, value)

    return mutate


def _clear(name: str) -> Callable[[pb.VmRequest], None]:
    return lambda message: message.ClearField(name)


def _address(**kind: str) -> Callable[[pb.VmRequest], None]:
    return lambda message: message.addresses.append(pb.Address(**kind))


def _first_mac(text: str) -> Callable[[pb.VmRequest], None]:
    return _set_address(0, mac=text)


def _set_address(index: int, **kind: str) -> Callable[[pb.VmRequest], None]:
    def mutate(message: pb.VmRequest) -> None:
        message.addresses[index].CopyFrom(pb.Address(**kind))

    return mutate


def _too_many(message: pb.VmRequest) -> None:
    del message.addresses[:]
    message.addresses.extend(
        pb.Address(mac=f"52:54:00:00:{i >> 8:02x}:{i & 0xFF:02x}")
        for i in range(1, MAX_ADDRESSES + 2)
    )


def _macless(message: pb.VmRequest) -> None:
    del message.addresses[0]


VM_REQUEST_ERRORS = {
    "vm_id missing": (_set("vm_id", ""), "vm_id is missing"),
    "vm_id not a UUID": (_set("vm_id", "vm-1"), "vm_id 'vm-1' is not a UUID"),
    "vn missing": (_clear("vn"), "vn is missing"),
    "vn without kind": (lambda m: m.vn.ClearField("vni"), "vn sets neither vni nor name"),
    "vni zero": (_set("vn.vni", 0), "vn.vni: VNI 0 is outside 1..16777215"),
    "vni too big": (_set("vn.vni", 1 << 24), "vn.vni: VNI 16777216 is outside"),
    "vn name empty": (_set("vn.name", ""), "vn.name is missing"),
    "attachment missing": (_clear("attachment"), "attachment is missing"),
    "attachment nve empty": (_set("attachment.nve", ""), "attachment.nve is missing"),
    "mac short": (_first_mac("52:54:00:12:34"), "addresses[0].mac: MAC '52:54:00:12:34' is not"),
    "mac not hex": (
        _first_mac("52:54:00:12:34:zz"),
        "addresses[0].mac: MAC '52:54:00:12:34:zz' is not hexadecimal",
    ),
    "mac zero": (
        _first_mac("00:00:00:00:00:00"),
        "addresses[0].mac: MAC 00:00:00:00:00:00 is not a VM address",
    ),
    "mac multicast": (
        _first_mac("01:00:5e:00:00:01"),
        "addresses[0].mac: MAC '01:00:5e:00:00:01' is a multicast",
    ),
    "ipv4 malformed": (
        _set_address(1, ipv4="10.0.0.256"),
        "addresses[1].ipv4: IPv4 address '10.0.0.256' is malformed",
    ),
    "ipv6 malformed": (
        _set_address(2, ipv6="2001:db8::5::1"),
        "addresses[2].ipv6: IPv6 address '2001:db8::5::1' is malformed",
    ),
    "address without kind": (_address(), "addresses[3] sets no address (mac, ipv4 or ipv6)"),
    "too many addresses": (
        _too_many,
        f"addresses: {MAX_ADDRESSES + 1} given, at most {MAX_ADDRESSES}",
    ),
    "no MAC": (_macless, "addresses: at least one MAC is required"),
    "repeated MAC": (_address(mac=MAC.upper()), "addresses[3] repeats addresses[0]"),
    "repeated IPv6": (_address(ipv6="2001:db8::5"), "addresses[3] repeats addresses[2]"),
    "VID too big": (
        _set("requested_vid", 4095),
        "requested_vid: requested VID 4095 is outside 0..4094",
    ),
}


@pytest.mark.parametrize("case", VM_REQUEST_ERRORS, ids=str)
def test_decode_vm_request_errors_name_the_field(case: str) -> None:
    mutate, detail = VM_REQUEST_ERRORS[case]
    message = good_request()
    mutate(message)
    with pytest.raises(SignallingError) as raised:
        codec.decode_vm_request(Event.ASSOCIATE, message)
    assert str(raised.value).startswith(detail)


def test_decode_accepts_vid_zero_and_max() -> None:
    for vid in (0, 4094):
        message = good_request()
        message.requested_vid = vid
        assert codec.decode_vm_request(Event.ASSOCIATE, message).requested_vid == vid


def test_vm_request_round_trip() -> None:
    message = codec.encode_vm_request(VM_REQUEST)
    assert codec.decode_vm_request(VM_REQUEST.event, message) == VM_REQUEST


def test_vm_request_round_trip_vn_by_name() -> None:
    request = VM_REQUEST.__class__(
        event=Event.PRE_ASSOCIATE,
        vm_id=VM_ID,
        vn=VnSelector(name="blue"),
        macs=(0x020000000001,),
        nve="nve1",
    )
    assert codec.encode_vm_request(request).vn.name == "blue"
    assert codec.decode_vm_request(Event.PRE_ASSOCIATE, codec.encode_vm_request(request)) == request


@pytest.mark.parametrize(
    ("vm_id", "detail"), [("", "vm_id is missing"), ("x", "vm_id 'x' is not a UUID")]
)
def test_decode_vm_ref_errors(vm_id: str, detail: str) -> None:
    with pytest.raises(SignallingError, match=detail):
        codec.decode_vm_ref(Event.SUSPEND, pb.VmRef(vm_id=vm_id))


def test_vm_ref_round_trip() -> None:
    request = VmRefRequest(Event.TERMINATE, VM_ID)
    assert codec.decode_vm_ref(Event.TERMINATE, codec.encode_vm_ref(request)) == request


def test_every_event_has_one_rpc() -> None:
    events = set(codec.VM_REQUEST_RPCS) | set(codec.VM_REF_RPCS)
    assert events == set(Event) - {Event.AGE_OUT}
    assert not set(codec.VM_REQUEST_RPCS) & set(codec.VM_REF_RPCS)


def test_operator_requests() -> None:
    assert codec.decode_set_vid(pb.SetVidRequest(vm_id=VM_ID, vid=0)) == (VM_ID, 0)
    assert codec.decode_migrate(pb.MigrateRequest(vm_id=VM_ID, to_nve="nve2")) == (VM_ID, "nve2", 0)
    assert codec.decode_table_request(pb.TableRequest(nve="nve1")) == ("nve1", None)
    assert codec.decode_table_request(pb.TableRequest(nve="nve1", table="acl")) == ("nve1", "acl")
    assert codec.decode_counter_request(pb.CounterRequest(nve="nve1")) == "nve1"


@pytest.mark.parametrize(
    ("decode", "message", "detail"),
    [
        (codec.decode_set_vid, pb.SetVidRequest(vm_id=VM_ID, vid=4095), "vid: requested VID 4095"),
        (codec.decode_set_vid, pb.SetVidRequest(vid=1), "vm_id is missing"),
        (codec.decode_migrate, pb.MigrateRequest(vm_id=VM_ID), "to_nve is missing"),
        (codec.decode_migrate, pb.MigrateRequest(vm_id="1", to_nve="n"), "vm_id '1' is not a UUID"),
        (codec.decode_table_request, pb.TableRequest(table="acl"), "nve is missing"),
        (codec.decode_counter_request, pb.CounterRequest(), "nve is missing"),
    ],
)
def test_operator_request_errors(
    decode: Callable[[object], object], message: object, detail: str
) -> None:
    with pytest.raises(SignallingError, match=detail):
        decode(message)


@pytest.mark.parametrize("reason", [None, *FailReason])
def test_answer_round_trip(reason: FailReason | None) -> None:
    answer = Answer(reason, "why" if reason else "", vid=12, pcp=5, state="associated")
    response = codec.encode_answer(answer)
    assert response.result == (pb.SUCCESS if reason is None else pb.FAIL)
    assert codec.decode_answer(response) == answer


def test_refusal() -> None:
    response = codec.refusal(FailReason.INVALID_REQUEST, "vm_id is missing")
    assert (response.result, response.reason, response.detail) == (
        pb.FAIL,
        pb.INVALID_REQUEST,
        "vm_id is missing",
    )


@pytest.mark.parametrize(
    ("result", "reason", "detail"),
    [
        (7, pb.REASON_NONE, "result: 7 is neither SUCCESS nor FAIL"),
        (pb.RESULT_UNSPECIFIED, pb.REASON_NONE, "result: 0 is neither SUCCESS nor FAIL"),
        (pb.FAIL, 42, "reason: unknown value 42"),
        (pb.FAIL, pb.REASON_NONE, "reason: FAIL without a reason"),
        (pb.SUCCESS, pb.BUSY, "reason: SUCCESS with reason BUSY"),
    ],
)
def test_decode_answer_rejects_unknown_and_inconsistent_enums(
    result: int, reason: int, detail: str
) -> None:
    wire = pb.Response(result=result, reason=reason).SerializeToString()  # as a newer peer sends
    with pytest.raises(SignallingError, match=detail):
        codec.decode_answer(pb.Response.FromString(wire))


@pytest.mark.parametrize("notification", NOTIFICATIONS, ids=lambda n: n.kind.name)
def test_notification_round_trip(notification: object) -> None:
    message = codec.encode_notification(notification)  # type: ignore[arg-type]
    assert codec.decode_notification(message, "hv1") == notification


def test_decode_notification_without_kind() -> None:
    with pytest.raises(SignallingError, match="kind: the notification carries no kind"):
        codec.decode_notification(pb.Notification(vm_id=VM_ID), "hv1")


def test_decode_notification_bad_vm_id() -> None:
    with pytest.raises(SignallingError, match="vm_id 'x' is not a UUID"):
        codec.decode_notification(pb.Notification(vm_id="x", aged_out=pb.AgedOut()), "hv1")


def test_view_round_trips() -> None:
    assert codec.decode_vm_list(codec.encode_vm_list(VM_VIEWS)) == VM_VIEWS
    assert codec.decode_vn_list(codec.encode_vn_list(VN_VIEWS)) == VN_VIEWS
    assert codec.decode_port_list(codec.encode_port_list(PORT_VIEWS)) == PORT_VIEWS
    assert codec.decode_counter_list(codec.encode_counter_list(COUNTER_VIEWS)) == COUNTER_VIEWS
    assert codec.decode_table_view(codec.encode_table_view(TABLE_VIEW)) == TABLE_VIEW


def test_views_use_the_wire_field_names() -> None:
    info = codec.encode_vm_list(VM_VIEWS).vms[0]
    assert (info.vm_id, list(info.macs), info.idle_seconds) == (VM_ID, ["52:54:00:12:34:56"], 1.25)
