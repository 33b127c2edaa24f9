from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Result(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RESULT_UNSPECIFIED: _ClassVar[Result]
    SUCCESS: _ClassVar[Result]
    FAIL: _ClassVar[Result]

class FailReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REASON_NONE: _ClassVar[FailReason]
    FAILED_AUTHORIZATION: _ClassVar[FailReason]
    CONFLICT_POLICIES: _ClassVar[FailReason]
    NON_SUFFICIENT_RESOURCES: _ClassVar[FailReason]
    BUSY: _ClassVar[FailReason]
    INVALID_REQUEST: _ClassVar[FailReason]
RESULT_UNSPECIFIED: Result
SUCCESS: Result
FAIL: Result
REASON_NONE: FailReason
FAILED_AUTHORIZATION: FailReason
CONFLICT_POLICIES: FailReason
NON_SUFFICIENT_RESOURCES: FailReason
BUSY: FailReason
INVALID_REQUEST: FailReason

class Address(_message.Message):
    __slots__ = ("mac", "ipv4", "ipv6")
    MAC_FIELD_NUMBER: _ClassVar[int]
    IPV4_FIELD_NUMBER: _ClassVar[int]
    IPV6_FIELD_NUMBER: _ClassVar[int]
    mac: str
    ipv4: str
    ipv6: str
    def __init__(self, mac: _Optional[str] = ..., ipv4: _Optional[str] = ..., ipv6: _Optional[str] = ...) -> None: ...

class VnRef(_message.Message):
    __slots__ = ("vni", "name")
    VNI_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    vni: int
    name: str
    def __init__(self, vni: _Optional[int] = ..., name: _Optional[str] = ...) -> None: ...

class Attachment(_message.Message):
    __slots__ = ("nve", "port")
    NVE_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    nve: str
    port: int
    def __init__(self, nve: _Optional[str] = ..., port: _Optional[int] = ...) -> None: ...

class VmRequest(_message.Message):
    __slots__ = ("vm_id", "vn", "addresses", "attachment", "requested_vid", "vm_class", "reserve_resources")
    VM_ID_FIELD_NUMBER: _ClassVar[int]
    VN_FIELD_NUMBER: _ClassVar[int]
    ADDRESSES_FIELD_NUMBER: _ClassVar[int]
    ATTACHMENT_FIELD_NUMBER: _ClassVar[int]
    REQUESTED_VID_FIELD_NUMBER: _ClassVar[int]
    VM_CLASS_FIELD_NUMBER: _ClassVar[int]
    RESERVE_RESOURCES_FIELD_NUMBER: _ClassVar[int]
    vm_id: str
    vn: VnRef
    addresses: _containers.RepeatedCompositeFieldContainer[Address]
    attachment: Attachment
    requested_vid: int
    vm_class: str
    reserve_resources: bool
    def __init__(self, vm_id: _Optional[str] = ..., vn: _Optional[_Union[VnRef, _Mapping]] = ..., addresses: _Optional[_Iterable[_Union[Address, _Mapping]]] = ..., attachment: _Optional[_Union[Attachment, _Mapping]] = ..., requested_vid: _Optional[int] = ..., vm_class: _Optional[str] = ..., reserve_resources: _Optional[bool] = ...) -> None: ...

class VmRef(_message.Message):
    __slots__ = ("vm_id",)
    VM_ID_FIELD_NUMBER: _ClassVar[int]
    vm_id: str
    def __init__(self, vm_id: _Optional[str] = ...) -> None: ...

class Response(_message.Message):
    __slots__ = ("result", "reason", "detail", "vid", "pcp", "state")
    RESULT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    VID_FIELD_NUMBER: _ClassVar[int]
    PCP_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    result: Result
    reason: FailReason
    detail: str
    vid: int
    pcp: int
    state: str
    def __init__(self, result: _Optional[_Union[Result, str]] = ..., reason: _Optional[_Union[FailReason, str]] = ..., detail: _Optional[str] = ..., vid: _Optional[int] = ..., pcp: _Optional[int] = ..., state: _Optional[str] = ...) -> None: ...

class NotificationRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Notification(_message.Message):
    __slots__ = ("vm_id", "vid_changed", "aged_out", "policy_changed", "displaced")
    VM_ID_FIELD_NUMBER: _ClassVar[int]
    VID_CHANGED_FIELD_NUMBER: _ClassVar[int]
    AGED_OUT_FIELD_NUMBER: _ClassVar[int]
    POLICY_CHANGED_FIELD_NUMBER: _ClassVar[int]
    DISPLACED_FIELD_NUMBER: _ClassVar[int]
    vm_id: str
    vid_changed: VidChanged
    aged_out: AgedOut
    policy_changed: PolicyChanged
    displaced: Displaced
    def __init__(self, vm_id: _Optional[str] = ..., vid_changed: _Optional[_Union[VidChanged, _Mapping]] = ..., aged_out: _Optional[_Union[AgedOut, _Mapping]] = ..., policy_changed: _Optional[_Union[PolicyChanged, _Mapping]] = ..., displaced: _Optional[_Union[Displaced, _Mapping]] = ...) -> None: ...

class VidChanged(_message.Message):
    __slots__ = ("old_vid", "new_vid")
    OLD_VID_FIELD_NUMBER: _ClassVar[int]
    NEW_VID_FIELD_NUMBER: _ClassVar[int]
    old_vid: int
    new_vid: int
    def __init__(self, old_vid: _Optional[int] = ..., new_vid: _Optional[int] = ...) -> None: ...

class AgedOut(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class PolicyChanged(_message.Message):
    __slots__ = ("pcp", "detail")
    PCP_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    pcp: int
    detail: str
    def __init__(self, pcp: _Optional[int] = ..., detail: _Optional[str] = ...) -> None: ...

class Displaced(_message.Message):
    __slots__ = ("new_nve",)
    NEW_NVE_FIELD_NUMBER: _ClassVar[int]
    new_nve: str
    def __init__(self, new_nve: _Optional[str] = ...) -> None: ...

class Empty(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class VmInfo(_message.Message):
    __slots__ = ("vm_id", "hypervisor", "nve", "port", "vni", "vn", "macs", "ips", "vid", "pcp", "vap_id", "state", "origin", "idle_seconds")
    VM_ID_FIELD_NUMBER: _ClassVar[int]
    HYPERVISOR_FIELD_NUMBER: _ClassVar[int]
    NVE_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    VNI_FIELD_NUMBER: _ClassVar[int]
    VN_FIELD_NUMBER: _ClassVar[int]
    MACS_FIELD_NUMBER: _ClassVar[int]
    IPS_FIELD_NUMBER: _ClassVar[int]
    VID_FIELD_NUMBER: _ClassVar[int]
    PCP_FIELD_NUMBER: _ClassVar[int]
    VAP_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    ORIGIN_FIELD_NUMBER: _ClassVar[int]
    IDLE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    vm_id: str
    hypervisor: str
    nve: str
    port: int
    vni: int
    vn: str
    macs: _containers.RepeatedScalarFieldContainer[str]
    ips: _containers.RepeatedScalarFieldContainer[str]
    vid: int
    pcp: int
    vap_id: int
    state: str
    origin: str
    idle_seconds: float
    def __init__(self, vm_id: _Optional[str] = ..., hypervisor: _Optional[str] = ..., nve: _Optional[str] = ..., port: _Optional[int] = ..., vni: _Optional[int] = ..., vn: _Optional[str] = ..., macs: _Optional[_Iterable[str]] = ..., ips: _Optional[_Iterable[str]] = ..., vid: _Optional[int] = ..., pcp: _Optional[int] = ..., vap_id: _Optional[int] = ..., state: _Optional[str] = ..., origin: _Optional[str] = ..., idle_seconds: _Optional[float] = ...) -> None: ...

class VmList(_message.Message):
    __slots__ = ("vms",)
    VMS_FIELD_NUMBER: _ClassVar[int]
    vms: _containers.RepeatedCompositeFieldContainer[VmInfo]
    def __init__(self, vms: _Optional[_Iterable[_Union[VmInfo, _Mapping]]] = ...) -> None: ...

class VnInfo(_message.Message):
    __slots__ = ("name", "vni", "default_action", "acl_rules", "nves", "vms")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VNI_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_ACTION_FIELD_NUMBER: _ClassVar[int]
    ACL_RULES_FIELD_NUMBER: _ClassVar[int]
    NVES_FIELD_NUMBER: _ClassVar[int]
    VMS_FIELD_NUMBER: _ClassVar[int]
    name: str
    vni: int
    default_action: str
    acl_rules: int
    nves: _containers.RepeatedScalarFieldContainer[str]
    vms: int
    def __init__(self, name: _Optional[str] = ..., vni: _Optional[int] = ..., default_action: _Optional[str] = ..., acl_rules: _Optional[int] = ..., nves: _Optional[_Iterable[str]] = ..., vms: _Optional[int] = ...) -> None: ...

class VnList(_message.Message):
    __slots__ = ("vns",)
    VNS_FIELD_NUMBER: _ClassVar[int]
    vns: _containers.RepeatedCompositeFieldContainer[VnInfo]
    def __init__(self, vns: _Optional[_Iterable[_Union[VnInfo, _Mapping]]] = ...) -> None: ...

class PortInfo(_message.Message):
    __slots__ = ("nve", "port", "role", "vids_in_use", "vids_free")
    NVE_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    VIDS_IN_USE_FIELD_NUMBER: _ClassVar[int]
    VIDS_FREE_FIELD_NUMBER: _ClassVar[int]
    nve: str
    port: int
    role: str
    vids_in_use: int
    vids_free: int
    def __init__(self, nve: _Optional[str] = ..., port: _Optional[int] = ..., role: _Optional[str] = ..., vids_in_use: _Optional[int] = ..., vids_free: _Optional[int] = ...) -> None: ...

class PortList(_message.Message):
    __slots__ = ("ports",)
    PORTS_FIELD_NUMBER: _ClassVar[int]
    ports: _containers.RepeatedCompositeFieldContainer[PortInfo]
    def __init__(self, ports: _Optional[_Iterable[_Union[PortInfo, _Mapping]]] = ...) -> None: ...

class TableRequest(_message.Message):
    __slots__ = ("nve", "table")
    NVE_FIELD_NUMBER: _ClassVar[int]
    TABLE_FIELD_NUMBER: _ClassVar[int]
    nve: str
    table: str
    def __init__(self, nve: _Optional[str] = ..., table: _Optional[str] = ...) -> None: ...

class TableEntryInfo(_message.Message):
    __slots__ = ("table", "match", "priority", "action", "params", "packets", "bytes")
    TABLE_FIELD_NUMBER: _ClassVar[int]
    MATCH_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    PACKETS_FIELD_NUMBER: _ClassVar[int]
    BYTES_FIELD_NUMBER: _ClassVar[int]
    table: str
    match: str
    priority: int
    action: str
    params: str
    packets: int
    bytes: int
    def __init__(self, table: _Optional[str] = ..., match: _Optional[str] = ..., priority: _Optional[int] = ..., action: _Optional[str] = ..., params: _Optional[str] = ..., packets: _Optional[int] = ..., bytes: _Optional[int] = ...) -> None: ...

class TableDump(_message.Message):
    __slots__ = ("entries", "occupancy", "capacity")
    class OccupancyEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    class CapacityEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    OCCUPANCY_FIELD_NUMBER: _ClassVar[int]
    CAPACITY_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[TableEntryInfo]
    occupancy: _containers.ScalarMap[str, int]
    capacity: _containers.ScalarMap[str, int]
    def __init__(self, entries: _Optional[_Iterable[_Union[TableEntryInfo, _Mapping]]] = ..., occupancy: _Optional[_Mapping[str, int]] = ..., capacity: _Optional[_Mapping[str, int]] = ...) -> None: ...

class CounterRequest(_message.Message):
    __slots__ = ("nve",)
    NVE_FIELD_NUMBER: _ClassVar[int]
    nve: str
    def __init__(self, nve: _Optional[str] = ...) -> None: ...

class CounterInfo(_message.Message):
    __slots__ = ("name", "index", "label", "packets", "bytes")
    NAME_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    PACKETS_FIELD_NUMBER: _ClassVar[int]
    BYTES_FIELD_NUMBER: _ClassVar[int]
    name: str
    index: int
    label: str
    packets: int
    bytes: int
    def __init__(self, name: _Optional[str] = ..., index: _Optional[int] = ..., label: _Optional[str] = ..., packets: _Optional[int] = ..., bytes: _Optional[int] = ...) -> None: ...

class CounterList(_message.Message):
    __slots__ = ("counters",)
    COUNTERS_FIELD_NUMBER: _ClassVar[int]
    counters: _containers.RepeatedCompositeFieldContainer[CounterInfo]
    def __init__(self, counters: _Optional[_Iterable[_Union[CounterInfo, _Mapping]]] = ...) -> None: ...

class SetVidRequest(_message.Message):
    __slots__ = ("vm_id", "vid")
    VM_ID_FIELD_NUMBER: _ClassVar[int]
    VID_FIELD_NUMBER: _ClassVar[int]
    vm_id: str
    vid: int
    def __init__(self, vm_id: _Optional[str] = ..., vid: _Optional[int] = ...) -> None: ...

class MigrateRequest(_message.Message):
    __slots__ = ("vm_id", "to_nve", "to_port")
    VM_ID_FIELD_NUMBER: _ClassVar[int]
    TO_NVE_FIELD_NUMBER: _ClassVar[int]
    TO_PORT_FIELD_NUMBER: _ClassVar[int]
    vm_id: str
    to_nve: str
    to_port: int
    def __init__(self, vm_id: _Optional[str] = ..., to_nve: _Optional[str] = ..., to_port: _Optional[int] = ...) -> None: ...
