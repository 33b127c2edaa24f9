"""Typed signalling requests and answers, independent of the wire (gRPC or VDP).

The wire layers decode into these and encode from them; the NVE service consumes them. Decoding
checks form only (a UUID is a UUID, a MAC is a MAC); whether the request is allowed is the
service's business.
"""

from __future__ import annotations

import enum
import ipaddress
import uuid
from dataclasses import dataclass, field

from controlplane.errors import NveError
from controlplane.lifecycle import Event
from controlplane.model import Origin

MAX_VID = 4094
MAX_VNI = (1 << 24) - 1
MAX_ADDRESSES = 64


class SignallingError(NveError):
    """A malformed message; answered INVALID_REQUEST with this text."""


class FailReason(enum.Enum):
    """The draft's FAIL reasons, plus INVALID_REQUEST for malformed or illegal requests."""

    FAILED_AUTHORIZATION = "failed authorization"
    CONFLICT_POLICIES = "conflict policies"
    NON_SUFFICIENT_RESOURCES = "non-sufficient resources"
    BUSY = "busy"
    INVALID_REQUEST = "invalid request"


class Refused(NveError):
    """The NVE refuses a request: answered FAIL with `reason` and this text as the detail."""

    def __init__(self, reason: FailReason, detail: str) -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason.value}: {detail}")


@dataclass(frozen=True, slots=True)
class VnSelector:
    """REQ-2: a VN by VNI or by name (exactly one is set)."""

    vni: int | None = None
    name: str | None = None


@dataclass(frozen=True, slots=True)
class VmRequest:
    """A request that carries the VM's network properties (pre-associate, associate, immigrate)."""

    event: Event
    vm_id: str
    vn: VnSelector
    macs: tuple[int, ...]
    ipv4: tuple[int, ...] = ()
    ipv6: tuple[str, ...] = ()
    nve: str = ""
    port: int = 0
    requested_vid: int = 0
    vm_class: str = ""
    reserve_resources: bool = False
    origin: Origin = Origin.GRPC


@dataclass(frozen=True, slots=True)
class VmRefRequest:
    """A request that names the VM only (suspend, resume, emigrate, terminate, keep-alive)."""

    event: Event
    vm_id: str
    origin: Origin = Origin.GRPC


Request = VmRequest | VmRefRequest


@dataclass(frozen=True, slots=True)
class Answer:
    """SUCCESS (reason None) or FAIL with a reason; the VID and PCP the VM must use."""

    reason: FailReason | None
    detail: str = ""
    vid: int = 0
    pcp: int = 0
    state: str = ""

    @property
    def success(self) -> bool:
        """True for SUCCESS."""
        return self.reason is None


class NotificationKind(enum.Enum):
    """NVE-initiated messages to a hypervisor (§3.3.9)."""

    VID_CHANGED = "vid changed"
    AGED_OUT = "aged out"
    POLICY_CHANGED = "policy changed"
    DISPLACED = "displaced"


@dataclass(frozen=True, slots=True)
class Notification:
    """One NVE-initiated message about one VM."""

    kind: NotificationKind
    vm_id: str
    hypervisor: str
    old_vid: int = 0
    new_vid: int = 0
    pcp: int = 0
    detail: str = ""
    new_nve: str = ""


def parse_vm_id(text: str) -> str:
    """The canonical UUID string; SignallingError naming the bad value."""
    try:
        return str(uuid.UUID(text))
    except (ValueError, AttributeError, TypeError):
        raise SignallingError(f"vm_id {text!r} is not a UUID") from None


def parse_mac(text: str) -> int:
    """A unicast MAC 'aa:bb:cc:dd:ee:ff' -> int; SignallingError otherwise."""
    parts = text.split(":") if isinstance(text, str) else []
    if len(parts) != 6 or not all(len(p) == 2 for p in parts):
        raise SignallingError(f"MAC {text!r} is not of the form 52:54:00:12:34:56")
    try:
        value = int("".join(parts), 16)
    except ValueError:
        raise SignallingError(f"MAC {text!r} is not hexadecimal") from None
    if value >> 40 & 1:
        raise SignallingError(f"MAC {text!r} is a multicast address; a VM's MAC must be unicast")
    if value == 0:
        raise SignallingError("MAC 00:00:00:00:00:00 is not a VM address")
    return value


def parse_ipv4(text: str) -> int:
    """'192.168.1.5' -> int; SignallingError otherwise."""
    try:
        return int(ipaddress.IPv4Address(text))
    except (ValueError, TypeError):
        raise SignallingError(f"IPv4 address {text!r} is malformed") from None


def parse_ipv6(text: str) -> str:
    """The compressed form of an IPv6 address; SignallingError otherwise."""
    try:
        return str(ipaddress.IPv6Address(text))
    except (ValueError, TypeError):
        raise SignallingError(f"IPv6 address {text!r} is malformed") from None


def check_vid(vid: int) -> int:
    """0 (let the NVE choose) or 1..4094."""
    if not 0 <= vid <= MAX_VID:
        raise SignallingError(f"requested VID {vid} is outside 0..{MAX_VID}")
    return vid


def check_vni(vni: int) -> int:
    """1..2^24-1."""
    if not 1 <= vni <= MAX_VNI:
        raise SignallingError(f"VNI {vni} is outside 1..{MAX_VNI}")
    return vni


@dataclass(frozen=True, slots=True)
class VmView:
    """What operators see of a VM (nvectl show vms)."""

    vm_id: str
    hypervisor: str
    nve: str
    port: int
    vni: int
    vn: str
    macs: tuple[str, ...]
    ips: tuple[str, ...]
    vid: int
    pcp: int
    vap_id: int
    state: str
    origin: str
    idle_seconds: float


@dataclass(frozen=True, slots=True)
class TableRow:
    """One installed table entry for operators."""

    table: str
    match: str
    priority: int
    action: str
    params: str
    packets: int = 0
    bytes: int = 0


@dataclass(frozen=True, slots=True)
class TableView:
    """Entries plus occupancy and capacity per table."""

    rows: tuple[TableRow, ...]
    occupancy: dict[str, int] = field(default_factory=dict)
    capacity: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class VnView:
    """A configured VN for operators."""

    name: str
    vni: int
    default_action: str
    acl_rules: int
    nves: tuple[str, ...]
    vms: int


@dataclass(frozen=True, slots=True)
class PortView:
    """A switch port for operators."""

    nve: str
    port: int
    role: str
    vids_in_use: int
    vids_free: int


@dataclass(frozen=True, slots=True)
class CounterView:
    """One counter cell for operators."""

    name: str
    index: int
    label: str
    packets: int
    bytes: int
