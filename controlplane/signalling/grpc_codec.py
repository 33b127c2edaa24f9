"""Protobuf messages of nve_signalling.proto <-> the typed messages of `messages.py`.

Decoding is strict: a message that is missing a field, carries a malformed value or an enum value
this version does not know raises SignallingError, whose text names the field. The server decodes
requests and encodes answers, notifications and views; `nvectl` does the reverse.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, fields
from typing import Any, TypeVar

from google.protobuf.message import Message

from controlplane.config import format_mac
from controlplane.lifecycle import Event
from controlplane.signalling.messages import (
    MAX_ADDRESSES,
    Answer,
    CounterView,
    FailReason,
    Notification,
    NotificationKind,
    PortView,
    SignallingError,
    TableRow,
    TableView,
    VmRefRequest,
    VmRequest,
    VmView,
    VnSelector,
    VnView,
    check_vid,
    check_vni,
    parse_ipv4,
    parse_ipv6,
    parse_mac,
    parse_vm_id,
)
from controlplane.signalling.proto import nve_signalling_pb2 as pb

T = TypeVar("T")
View = TypeVar("View", VmView, VnView, PortView, CounterView, TableRow)

VM_REQUEST_RPCS: Mapping[Event, str] = {
    Event.PRE_ASSOCIATE: "PreAssociate",
    Event.ASSOCIATE: "Associate",
    Event.IMMIGRATE_PRE_ASSOCIATE: "ImmigratePreAssociate",
    Event.IMMIGRATE_ASSOCIATE: "ImmigrateAssociate",
}
"""The TesNveSignalling RPC that carries each event with the VM's network properties."""

VM_REF_RPCS: Mapping[Event, str] = {
    Event.SUSPEND: "Suspend",
    Event.RESUME: "Resume",
    Event.EMIGRATE: "Emigrate",
    Event.TERMINATE: "Terminate",
    Event.KEEPALIVE: "KeepAlive",
}
"""The TesNveSignalling RPC that carries each event naming the VM only."""


def _field(name: str, check: Callable[[Any], T], value: Any) -> T:
    """check(value), with SignallingError's text prefixed by the field's name."""
    try:
        return check(value)
    except SignallingError as error:
        raise SignallingError(f"{name}: {error}") from None


def _required_text(name: str, value: str) -> str:
    """A non-empty string field."""
    if not value:
        raise SignallingError(f"{name} is missing")
    return value


def _vm_id(value: str) -> str:
    """The canonical UUID of a vm_id field."""
    return parse_vm_id(_required_text("vm_id", value))


# -- hypervisor requests (server side) ---------------------------------------------------------


def _decode_vn(message: pb.VmRequest) -> VnSelector:
    """REQ-2: the VN by VNI or by name."""
    if not message.HasField("vn"):
        raise SignallingError("vn is missing")
    kind = message.vn.WhichOneof("kind")
    if kind == "vni":
        return VnSelector(vni=_field("vn.vni", check_vni, message.vn.vni))
    if kind == "name":
        return VnSelector(name=_required_text("vn.name", message.vn.name))
    raise SignallingError("vn sets neither vni nor name")


def _decode_addresses(
    addresses: Sequence[pb.Address],
) -> tuple[tuple[int, ...], tuple[int, ...], tuple[str, ...]]:
    """REQ-3: (MACs, IPv4s, IPv6s); at least one MAC, at most MAX_ADDRESSES, no repeats."""
    if len(addresses) > MAX_ADDRESSES:
        raise SignallingError(f"addresses: {len(addresses)} given, at most {MAX_ADDRESSES}")
    macs: list[int] = []
    ipv4: list[int] = []
    ipv6: list[str] = []
    seen: dict[tuple[str, int | str], int] = {}
    for index, address in enumerate(addresses):
        name = f"addresses[{index}]"
        kind = address.WhichOneof("kind")
        value: int | str
        if kind == "mac":
            value = _field(f"{name}.mac", parse_mac, address.mac)
            macs.append(value)
        elif kind == "ipv4":
            value = _field(f"{name}.ipv4", parse_ipv4, address.ipv4)
            ipv4.append(value)
        elif kind == "ipv6":
            value = _field(f"{name}.ipv6", parse_ipv6, address.ipv6)
            ipv6.append(value)
        else:
            raise SignallingError(f"{name} sets no address (mac, ipv4 or ipv6)")
        if (kind, value) in seen:
            raise SignallingError(f"{name} repeats addresses[{seen[kind, value]}]")
        seen[kind, value] = index
    if not macs:
        raise SignallingError("addresses: at least one MAC is required")
    return tuple(macs), tuple(ipv4), tuple(ipv6)


def decode_vm_request(event: Event, message: pb.VmRequest) -> VmRequest:
    """A PreAssociate/Associate/Immigrate* request; SignallingError names the bad field."""
    vm_id = _vm_id(message.vm_id)
    vn = _decode_vn(message)
    macs, ipv4, ipv6 = _decode_addresses(message.addresses)
    if not message.HasField("attachment"):
        raise SignallingError("attachment is missing")
    return VmRequest(
        event=event,
        vm_id=vm_id,
        vn=vn,
        macs=macs,
        ipv4=ipv4,
        ipv6=ipv6,
        nve=_required_text("attachment.nve", message.attachment.nve),
        port=message.attachment.port,
        requested_vid=_field("requested_vid", check_vid, message.requested_vid),
        vm_class=message.vm_class,
        reserve_resources=message.reserve_resources,
    )


def decode_vm_ref(event: Event, message: pb.VmRef) -> VmRefRequest:
    """A Suspend/Resume/Emigrate/Terminate/KeepAlive request."""
    return VmRefRequest(event=event, vm_id=_vm_id(message.vm_id))


def decode_set_vid(message: pb.SetVidRequest) -> tuple[str, int]:
    """(vm_id, vid); vid 0 asks for any free VID."""
    return _vm_id(message.vm_id), _field("vid", check_vid, message.vid)


def decode_migrate(message: pb.MigrateRequest) -> tuple[str, str, int]:
    """(vm_id, to_nve, to_port); to_port 0 lets the controller choose."""
    return (
        _vm_id(message.vm_id),
        _required_text("to_nve", message.to_nve),
        message.to_port,
    )


def decode_table_request(message: pb.TableRequest) -> tuple[str, str | None]:
    """(nve, table); table None means every table."""
    return _required_text("nve", message.nve), message.table or None


def decode_counter_request(message: pb.CounterRequest) -> str:
    """The switch whose counters are asked for."""
    return _required_text("nve", message.nve)


# -- hypervisor requests (client side) ---------------------------------------------------------


def encode_vm_request(request: VmRequest) -> pb.VmRequest:
    """The protobuf form of a request with the VM's network properties."""
    vn = (
        pb.VnRef(vni=request.vn.vni)
        if request.vn.vni is not None
        else pb.VnRef(name=request.vn.name)
    )
    addresses = [
        *(pb.Address(mac=format_mac(mac)) for mac in request.macs),
        *(pb.Address(ipv4=str(ipaddress.IPv4Address(ip))) for ip in request.ipv4),
        *(pb.Address(ipv6=ip) for ip in request.ipv6),
    ]
    return pb.VmRequest(
        vm_id=request.vm_id,
        vn=vn,
        addresses=addresses,
        attachment=pb.Attachment(nve=request.nve, port=request.port),
        requested_vid=request.requested_vid,
        vm_class=request.vm_class,
        reserve_resources=request.reserve_resources,
    )


def encode_vm_ref(request: VmRefRequest) -> pb.VmRef:
    """The protobuf form of a request that names the VM only."""
    return pb.VmRef(vm_id=request.vm_id)


# -- answers -----------------------------------------------------------------------------------


def encode_answer(answer: Answer) -> pb.Response:
    """SUCCESS with REASON_NONE, or FAIL with the reason and detail."""
    return pb.Response(
        result=pb.SUCCESS if answer.success else pb.FAIL,
        reason=pb.REASON_NONE if answer.reason is None else pb.FailReason.Value(answer.reason.name),
        detail=answer.detail,
        vid=answer.vid,
        pcp=answer.pcp,
        state=answer.state,
    )


def refusal(reason: FailReason, detail: str) -> pb.Response:
    """A FAIL response that the wire layer makes itself (bad message, unknown caller)."""
    return encode_answer(Answer(reason, detail))


def _decode_reason(value: int) -> FailReason | None:
    """The FailReason of a Response (None for REASON_NONE)."""
    if value == pb.REASON_NONE:
        return None
    try:
        return FailReason[pb.FailReason.Name(value)]
    except (ValueError, KeyError):
        raise SignallingError(f"reason: unknown value {value}") from None


def decode_answer(message: pb.Response) -> Answer:
    """The Answer in a Response; SignallingError for unknown or inconsistent enums."""
    reason = _decode_reason(message.reason)
    if message.result == pb.SUCCESS:
        if reason is not None:
            raise SignallingError(f"reason: SUCCESS with reason {reason.name}")
    elif message.result == pb.FAIL:
        if reason is None:
            raise SignallingError("reason: FAIL without a reason")
    else:
        raise SignallingError(f"result: {message.result} is neither SUCCESS nor FAIL")
    return Answer(
        reason=reason,
        detail=message.detail,
        vid=message.vid,
        pcp=message.pcp,
        state=message.state,
    )


# -- notifications -----------------------------------------------------------------------------


def encode_notification(notification: Notification) -> pb.Notification:
    """The protobuf form of an NVE-initiated message (the hypervisor is the stream's owner)."""
    message = pb.Notification(vm_id=notification.vm_id)
    if notification.kind is NotificationKind.VID_CHANGED:
        message.vid_changed.old_vid = notification.old_vid
        message.vid_changed.new_vid = notification.new_vid
    elif notification.kind is NotificationKind.AGED_OUT:
        message.aged_out.SetInParent()
    elif notification.kind is NotificationKind.POLICY_CHANGED:
        message.policy_changed.pcp = notification.pcp
        message.policy_changed.detail = notification.detail
    else:
        message.displaced.new_nve = notification.new_nve
    return message


def decode_notification(message: pb.Notification, hypervisor: str) -> Notification:
    """A Notification received on `hypervisor`'s stream; SignallingError for an unknown kind."""
    vm_id = _vm_id(message.vm_id)
    kind = message.WhichOneof("kind")
    if kind == "vid_changed":
        return Notification(
            NotificationKind.VID_CHANGED,
            vm_id,
            hypervisor,
            old_vid=message.vid_changed.old_vid,
            new_vid=message.vid_changed.new_vid,
        )
    if kind == "aged_out":
        return Notification(NotificationKind.AGED_OUT, vm_id, hypervisor)
    if kind == "policy_changed":
        return Notification(
            NotificationKind.POLICY_CHANGED,
            vm_id,
            hypervisor,
            pcp=message.policy_changed.pcp,
            detail=message.policy_changed.detail,
        )
    if kind == "displaced":
        return Notification(
            NotificationKind.DISPLACED, vm_id, hypervisor, new_nve=message.displaced.new_nve
        )
    raise SignallingError("kind: the notification carries no kind this client knows")


# -- operator views ----------------------------------------------------------------------------
# Each view dataclass has the field names of its protobuf message, so the copy is by name.


def _encode_view(message_type: type[Message], view: View) -> Any:
    """A protobuf message with the view's fields."""
    return message_type(**asdict(view))


def _decode_view(view_type: type[View], message: Message) -> View:
    """A view from the same-named fields of a message; repeated fields become tuples."""
    values: dict[str, Any] = {}
    for item in fields(view_type):
        value = getattr(message, item.name)
        values[item.name] = value if isinstance(value, (int, float, str)) else tuple(value)
    return view_type(**values)


def encode_vm_list(views: Iterable[VmView]) -> pb.VmList:
    """ListVms' answer."""
    return pb.VmList(vms=[_encode_view(pb.VmInfo, view) for view in views])


def decode_vm_list(message: pb.VmList) -> list[VmView]:
    """The VMs of a ListVms answer."""
    return [_decode_view(VmView, info) for info in message.vms]


def encode_vn_list(views: Iterable[VnView]) -> pb.VnList:
    """ListVns' answer."""
    return pb.VnList(vns=[_encode_view(pb.VnInfo, view) for view in views])


def decode_vn_list(message: pb.VnList) -> list[VnView]:
    """The VNs of a ListVns answer."""
    return [_decode_view(VnView, info) for info in message.vns]


def encode_port_list(views: Iterable[PortView]) -> pb.PortList:
    """ListPorts' answer."""
    return pb.PortList(ports=[_encode_view(pb.PortInfo, view) for view in views])


def decode_port_list(message: pb.PortList) -> list[PortView]:
    """The ports of a ListPorts answer."""
    return [_decode_view(PortView, info) for info in message.ports]


def encode_counter_list(views: Iterable[CounterView]) -> pb.CounterList:
    """ReadCounters' answer."""
    return pb.CounterList(counters=[_encode_view(pb.CounterInfo, view) for view in views])


def decode_counter_list(message: pb.CounterList) -> list[CounterView]:
    """The counters of a ReadCounters answer."""
    return [_decode_view(CounterView, info) for info in message.counters]


def encode_table_view(view: TableView) -> pb.TableDump:
    """ReadTables' answer."""
    return pb.TableDump(
        entries=[_encode_view(pb.TableEntryInfo, row) for row in view.rows],
        occupancy=view.occupancy,
        capacity=view.capacity,
    )


def decode_table_view(message: pb.TableDump) -> TableView:
    """The entries, occupancy and capacity of a ReadTables answer."""
    return TableView(
        rows=tuple(_decode_view(TableRow, entry) for entry in message.entries),
        occupancy=dict(message.occupancy),
        capacity=dict(message.capacity),
    )
