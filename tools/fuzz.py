"""Fuzz the NVE's input surfaces with hypothesis, check every answer, and count what happened.

    python tools/fuzz.py                          # every surface, NVE_FUZZ_EXAMPLES (100000) each
    python tools/fuzz.py --examples 2000 --surface p4runtime --seed 7
    NVE_FUZZ_LOG=run/fuzz.log python tools/fuzz.py ...   # keep the components' logs (INFO)
    NVE_FUZZ_TOP=30 python tools/fuzz.py ...              # show 30 outcome kinds, not 6

Surfaces:

signalling  The TesNveSignalling and NveOperator gRPC services of a real controller (in-process,
            two embedded switches): random and extreme field values, huge address lists,
            invalid MACs/VIDs/VNIs/UUIDs, unknown identities, raw undecodable bytes. Each answer
            is checked against an independent reading of the request (a malformed field is
            FAIL INVALID_REQUEST with the codec's text; nothing malformed is ever SUCCESS; a
            SUCCESS is what the controller now records).
p4runtime   The embedded target's P4Runtime server: WriteRequests built from the P4Info and
            mutated the way a P4Runtime fuzzer does (unknown ids, missing or duplicate match
            fields, wrong value widths and match kinds, bad priorities, duplicate inserts,
            deletes of missing entries, wrong role/device/election id, bad atomicity), random
            reads, pipeline requests with junk configs and unknown enum values, and stream
            messages. Each update's outcome is predicted by a shadow copy of the tables and
            must match; the tables read back must equal the shadow.
vdp         The VDP/ECP/LLDP codec and the EVB bridge port (controlplane.signalling.vdp): valid
            frames, random bytes, mutated TLVs and truncated frames. Only VdpCodecError (or a
            VdpRefusal from the translation to a request) may come out; what decodes encodes
            back to what decodes the same.

No input may crash anything (an unexpected exception, a gRPC UNKNOWN status from a handler), hang
(every call has a deadline) or stop the server serving; periodically and at the end the switch
tables are compared with the controller's state (and, for p4runtime, a controller then takes the
fuzzed switch over and must converge it exactly). A summary per surface is printed; the exit
status is 1 when anything crashed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import ipaddress
import logging
import os
import queue
import re
import sys
import tempfile
import threading
import time
import traceback
import uuid
from collections import Counter, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import grpc
from finsy.proto import U128, p4r, p4r_grpc, rpc_status
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st

DEFAULT_EXAMPLES = int(os.environ.get("NVE_FUZZ_EXAMPLES", "100000"))
CONFIG = ROOT / "tests" / "data" / "controller" / "two_nves.toml"
P4INFO = ROOT / "p4src" / "build" / "nve.p4info.txtpb"
BMV2_JSON = ROOT / "p4src" / "build" / "nve.json"
CALL_TIMEOUT = 30.0
"""Seconds any single call may take before it counts as a hang."""


class Finding(AssertionError):
    """The system under test did something it must not: crash, hang, wrong answer."""


class Hang(Finding):
    """A call did not complete within CALL_TIMEOUT."""


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise Finding(message)


# -- running asyncio servers beside hypothesis ------------------------------------------------

class LoopThread:
    """An asyncio loop in a thread: the servers live there, hypothesis drives from here."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="fuzz-loop",
                                       daemon=True)
        self.thread.start()

    def run(self, coro: Any, timeout: float = CALL_TIMEOUT) -> Any:
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result(timeout)
        except TimeoutError:
            future.cancel()
            raise Hang(f"no answer within {timeout} s") from None

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@contextlib.contextmanager
def quiet_logs() -> Iterator[None]:
    """Refusals are logged as warnings: 100,000 of them help nobody (NVE_FUZZ_LOG=FILE keeps
    them, at INFO, in FILE)."""
    if os.environ.get("NVE_FUZZ_LOG"):
        handler = logging.FileHandler(os.environ["NVE_FUZZ_LOG"])
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root = logging.getLogger()
        root.addHandler(handler)
        level = root.level
        root.setLevel(logging.INFO)
        try:
            yield
        finally:
            root.removeHandler(handler)
            root.setLevel(level)
        return
    loggers = [logging.getLogger(name) for name in ("controlplane", "softswitch", "finsy", "grpc")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def weighted(*choices: tuple[int, st.SearchStrategy[Any]]) -> st.SearchStrategy[Any]:
    """one_of with weights (one_of drops repeated strategies, so each copy is a new object)."""
    pool = [s.map(_same) for weight, s in choices for _ in range(weight)]
    return st.one_of(*pool)


def _same(value: Any) -> Any:
    return value


@dataclass
class Stats:
    """What one surface went through."""

    surface: str
    inputs: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    checks: int = 0
    crashes: int = 0
    hangs: int = 0
    seconds: float = 0.0
    failure: str = ""
    note: str = ""

    def line(self) -> str:
        top = ", ".join(f"{k} {v}" for k, v in self.outcomes.most_common(int(os.environ.get("NVE_FUZZ_TOP", "6"))))
        return (f"{self.surface:<11} inputs {self.inputs:>7}  crashes {self.crashes}  hangs "
                f"{self.hangs}  consistency checks {self.checks}  {self.seconds:6.1f} s  [{top}]")


class Surface:
    """One input surface: start, feed inputs, check consistency, stop."""

    name = ""
    check_every = 250

    def start(self) -> None: ...
    def stop(self) -> None: ...
    def strategy(self) -> st.SearchStrategy[Any]: raise NotImplementedError
    def feed(self, value: Any) -> str: raise NotImplementedError
    def check(self) -> None: ...
    def finish(self) -> str: return ""


def run_surface(surface: Surface, examples: int, seed: int | None = None) -> Stats:
    """Feed `examples` inputs; a Finding is a crash (hang) and ends the run with its example.

    Inputs go in runs of `surface.check_every` (one hypothesis run each, so a failing input is
    shrunk on its own); between runs the surface's consistency is checked, and a failing check
    reports the inputs that led to it."""
    stats = Stats(surface.name)
    started = time.monotonic()
    recent: deque[Any] = deque(maxlen=5)
    with quiet_logs():
        surface.start()
        try:
            strategy = surface.strategy()

            def body(value: Any) -> None:
                recent.append(value)
                stats.inputs += 1
                stats.outcomes[surface.feed(value)] += 1

            try:
                done = run = 0
                while done < examples:
                    count = min(surface.check_every, examples - done)
                    test = settings(max_examples=count, deadline=None, database=None,
                                    suppress_health_check=list(HealthCheck),
                                    report_multiple_bugs=False,
                                    phases=(Phase.generate, Phase.shrink))(given(strategy)(body))
                    if seed is not None:
                        test = hypothesis_seed(seed + run)(test)
                    test()
                    done += count
                    run += 1
                    try:
                        surface.check()
                    except Finding as finding:
                        inputs = "\n".join(f"  {v!r}"[:600] for v in recent)
                        raise Finding(f"after {stats.inputs} inputs: {finding}\nthe last "
                                      f"inputs were:\n{inputs}") from None
                    stats.checks += 1
                stats.note = surface.finish()
            except Exception as exc:  # noqa: BLE001 - every failure is reported, none hidden
                stats.crashes += 1
                stats.hangs += isinstance(exc, Hang)
                notes = "\n".join(getattr(exc, "__notes__", []))
                stats.failure = f"{''.join(traceback.format_exception_only(exc)).strip()}\n{notes}"
        finally:
            surface.stop()
    stats.seconds = time.monotonic() - started
    return stats


# -- surface: the signalling gRPC API ---------------------------------------------------------

def _signalling_modules() -> Any:
    from controlplane.lifecycle import Event
    from controlplane.signalling import grpc_codec as codec
    from controlplane.signalling.grpc_api import IDENTITY_METADATA_KEY
    from controlplane.signalling.messages import SignallingError
    from controlplane.signalling.proto import nve_signalling_pb2 as pb
    return Event, codec, IDENTITY_METADATA_KEY, SignallingError, pb


VM_POOL = [str(uuid.UUID(int=0x5EED_0000_0000_4000_8000_0000_0000_0000 + i)) for i in range(9)]
MAC_POOL = [f"52:54:00:5e:00:{i:02x}" for i in range(8)]
HYPERVISORS = {"hv1": ("nve1", (1,), {"blue", "red"}), "hv2": ("nve2", (1,), {"blue", "red"}),
               "hv3": ("nve1", (2,), {"red"})}
OWN_VMS = {hv: VM_POOL[i::3] for i, hv in enumerate(HYPERVISORS)}   # whose VMs they usually are
VNS = {"blue": 5001, "red": 5002, "green": 5003}
STATES = {"pre-associated", "associated", "suspended", "associated (emigrated)",
          "pre-associated (emigrated)", "suspended (emigrated)", "terminated"}
MAC_RE = re.compile(r"^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$")
U32 = st.integers(0, 2**32 - 1)


def _uint_extremes(bits: int) -> st.SearchStrategy[int]:
    return st.sampled_from(sorted(v for v in {0, 1, 2, (1 << bits) - 1, 1 << (bits - 1), 4094,
                                              4095, 4096, 5001, 16777215, 16777216}
                                  if v < 1 << bits))


def signalling_strategy() -> st.SearchStrategy[Any]:
    _, codec, _, _, pb = _signalling_modules()
    vm_id = weighted(
        (8, st.sampled_from(VM_POOL)),
        (2, st.uuids().map(str)),
        (1, st.sampled_from(VM_POOL).map(str.upper)),
        (1, st.sampled_from(VM_POOL).map(lambda u: "{" + u.replace("-", "") + "}")),
        (2, st.text(max_size=40)),
        (1, st.just("")),
        (1, st.text(alphabet="0123456789abcdef-", min_size=30, max_size=40)),
        (1, st.integers(1, 20000).map(lambda n: "a" * n)),
    )
    mac = weighted(
        (8, st.sampled_from(MAC_POOL)),
        (2, st.integers(0, 2**48 - 1).map(lambda v: ":".join(f"{v:012x}"[i:i + 2]
                                                              for i in range(0, 12, 2)))),
        (1, st.sampled_from(["ff:ff:ff:ff:ff:ff", "00:00:00:00:00:00", "01:00:5e:00:00:01",
                             "52-54-00-00-00-01", "52:54:00:00:00", "52:54:00:00:00:01:02",
                             "5254.0000.0001", "52:54:00:00:00:0g", " 52:54:00:00:00:01",
                             "52:54:00:00:00:1", "525400000001"])),
        (2, st.text(max_size=20)),
    )
    ipv4 = st.one_of(st.ip_addresses(v=4).map(str), st.text(max_size=16),
                     st.sampled_from(["256.0.0.1", "1.2.3", "01.2.3.4", "", "0.0.0.0"]))
    ipv6 = st.one_of(st.ip_addresses(v=6).map(str), st.text(max_size=40),
                     st.sampled_from(["::1::", "fe80::1%eth0", "", "::"]))
    address = weighted(
        (8, mac.map(lambda m: pb.Address(mac=m))),
        (2, ipv4.map(lambda a: pb.Address(ipv4=a))),
        (2, ipv6.map(lambda a: pb.Address(ipv6=a))),
        (1, st.just(pb.Address())),
    )
    addresses = weighted(
        (10, st.lists(address, max_size=5)),
        (1, st.lists(address, min_size=60, max_size=70)),
        (1, st.tuples(address, st.sampled_from([64, 65, 1000, 20000, 300000]))
            .map(lambda t: [t[0]] * t[1])),
        (1, st.integers(0, 70).map(lambda n: [pb.Address(mac=f"52:54:00:77:{i >> 8:02x}:"
                                                          f"{i & 255:02x}") for i in range(n)])),
    )
    vn = weighted(
        (6, st.sampled_from(list(VNS)).map(lambda n: pb.VnRef(name=n))),
        (3, st.sampled_from(list(VNS.values())).map(lambda v: pb.VnRef(vni=v))),
        (2, st.one_of(U32, _uint_extremes(32)).map(lambda v: pb.VnRef(vni=v))),
        (1, st.text(max_size=30).map(lambda n: pb.VnRef(name=n))),
        (1, st.just(pb.VnRef())),
        (1, st.just(None)),
    )
    attachment = weighted(
        (6, st.builds(lambda n, p: pb.Attachment(nve=n, port=p), st.sampled_from(["nve1", "nve2"]),
                      st.sampled_from([0, 1, 2, 3, 4]))),
        (2, st.builds(lambda n, p: pb.Attachment(nve=n, port=p), st.text(max_size=12),
                      st.one_of(U32, _uint_extremes(32)))),
        (1, st.just(None)),
    )
    fields = {
        "vm_id": vm_id, "vn": vn, "addresses": addresses, "attachment": attachment,
        "requested_vid": weighted((6, st.just(0)), (2, st.integers(1, 4094)),
                                  (2, st.one_of(U32, _uint_extremes(32)))),
        "vm_class": weighted((6, st.just("")), (2, st.sampled_from(["gold", "bronze"])),
                             (1, st.text(max_size=20))),
        "reserve": st.booleans()}
    # Mostly a well-formed request of the calling hypervisor with a few fields replaced by
    # anything (so that the service, not only the decoder, sees the inputs); sometimes all random.
    replaced = st.fixed_dictionaries({}, optional=fields).filter(lambda d: len(d) <= 2)
    near_valid = st.one_of(*[st.tuples(st.just(hv), _valid_fields(hv), replaced)
                             for hv in HYPERVISORS])
    vm_request = near_valid.map(lambda t: (t[0], _vm_request(**{**t[1], **t[2]})))
    random_request = st.builds(_vm_request, **fields)
    identity = weighted((12, st.sampled_from(list(HYPERVISORS))), (1, st.just(None)),
                        (1, st.from_regex(r"[a-z0-9\-]{1,12}", fullmatch=True)))
    vm_rpcs = st.sampled_from(list(codec.VM_REQUEST_RPCS.values()))
    ref_rpcs = st.sampled_from(list(codec.VM_REF_RPCS.values()))
    return weighted(
        (10, st.builds(lambda rpc, t: ("vm", rpc, t[0], t[1]), vm_rpcs, vm_request)),
        (3, st.tuples(st.just("vm"), vm_rpcs, identity, random_request)),
        (4, st.sampled_from(list(HYPERVISORS)).flatmap(lambda hv: st.tuples(
            st.just("ref"), ref_rpcs, st.just(hv),
            st.sampled_from(OWN_VMS[hv]).map(lambda v: pb.VmRef(vm_id=v))))),
        (2, st.tuples(st.just("ref"), ref_rpcs, identity, vm_id.map(lambda v: pb.VmRef(vm_id=v)))),
        (2, st.tuples(st.just("raw"), st.one_of(vm_rpcs, ref_rpcs, st.sampled_from(
            ["SetVid", "Migrate", "ReadTables", "ListVms"])), identity, st.binary(max_size=200))),
        (1, st.tuples(st.just("setvid"), st.just("SetVid"), identity, st.builds(
            lambda v, vid: pb.SetVidRequest(vm_id=v, vid=vid), vm_id,
            st.one_of(st.integers(0, 4096), U32)))),
        (1, st.tuples(st.just("migrate"), st.just("Migrate"), identity, st.builds(
            lambda v, n, p: pb.MigrateRequest(vm_id=v, to_nve=n, to_port=p), vm_id,
            st.one_of(st.sampled_from(["nve1", "nve2"]), st.text(max_size=8)),
            st.one_of(st.integers(0, 4), U32)))),
        (1, st.tuples(st.just("read"), st.sampled_from(["ReadTables", "ReadCounters"]), identity,
                      st.builds(lambda n, t: (n, t), st.one_of(st.sampled_from(["nve1", "nve2"]),
                                                              st.text(max_size=8)),
                                st.one_of(st.sampled_from(["", "fdb", "acl", "NveIngress.vn.vn"]),
                                          st.text(max_size=12))))),
        (1, st.tuples(st.just("answer"), st.just(""), st.just(None), st.builds(
            lambda r, reason, vid, pcp, detail, state: pb.Response(
                result=r, reason=reason, vid=vid, pcp=pcp, detail=detail, state=state),
            st.integers(0, 9), st.integers(0, 9), st.one_of(st.integers(0, 4096), U32),
            st.one_of(st.integers(0, 8), U32), st.text(max_size=10), st.text(max_size=10)))),
    )


def _valid_fields(hv: str) -> st.SearchStrategy[dict[str, Any]]:
    """Well-formed request fields of hypervisor `hv`, mostly for one of its own VMs."""
    _, _, _, _, pb = _signalling_modules()
    switch, ports, vns = HYPERVISORS[hv]

    def build(vm: str, vn: str, by_name: bool, picks: list[int], shared: str | None,
              ip: int | None, port: int, vid: int, gold: bool, reserve: bool) -> dict[str, Any]:
        macs = [f"52:54:00:5f:{VM_POOL.index(vm):02x}:{j:02x}" for j in picks]
        if shared is not None:
            macs.append(shared)
        addresses = [pb.Address(mac=m) for m in macs]
        if ip is not None:
            addresses.append(pb.Address(ipv4=f"192.168.0.{ip}"))
        return {"vm_id": vm, "vn": pb.VnRef(name=vn) if by_name else pb.VnRef(vni=VNS[vn]),
                "addresses": addresses, "attachment": pb.Attachment(nve=switch, port=port),
                "requested_vid": vid, "vm_class": "gold" if gold and vn == "blue" else "",
                "reserve": reserve}

    return st.builds(
        build, weighted((4, st.sampled_from(OWN_VMS[hv])), (1, st.sampled_from(VM_POOL))),
        st.sampled_from(sorted(vns)), st.booleans(),
        st.lists(st.integers(0, 2), min_size=1, max_size=3, unique=True),
        weighted((9, st.none()), (1, st.sampled_from(MAC_POOL))),
        st.one_of(st.none(), st.integers(1, 254)), st.sampled_from([0, *ports]),
        weighted((5, st.just(0)), (1, st.integers(2, 40))), st.booleans(), st.booleans())


def _vm_request(vm_id: str, vn: Any, addresses: list[Any], attachment: Any, requested_vid: int,
                vm_class: str, reserve: bool) -> Any:
    _, _, _, _, pb = _signalling_modules()
    message = pb.VmRequest(vm_id=vm_id, requested_vid=requested_vid, vm_class=vm_class,
                           reserve_resources=reserve)
    if vn is not None:
        message.vn.CopyFrom(vn)
    message.addresses.extend(addresses)
    if attachment is not None:
        message.attachment.CopyFrom(attachment)
    return message


def _independently_invalid(message: Any) -> str | None:
    """Why a VmRequest is malformed by this harness's own reading (None: it looks well formed).

    Deliberately written without the controller's codec: stdlib parsers and the draft's ranges."""
    try:
        uuid.UUID(message.vm_id)
    except ValueError:
        return "vm_id"
    if not message.HasField("vn") or message.vn.WhichOneof("kind") is None:
        return "vn"
    if message.vn.WhichOneof("kind") == "vni" and not 1 <= message.vn.vni < 2**24:
        return "vni"
    if message.vn.WhichOneof("kind") == "name" and not message.vn.name:
        return "vn name"
    if not 1 <= len(message.addresses) <= 64:
        return "address count"
    seen = set()
    macs = 0
    for address in message.addresses:
        kind = address.WhichOneof("kind")
        if kind is None:
            return "empty address"
        value = getattr(address, kind)
        if kind == "mac":
            if not MAC_RE.match(value):
                return "mac form"
            number = int(value.replace(":", ""), 16)
            if number == 0 or number >> 40 & 1:
                return "mac not unicast"
            value = number
            macs += 1
        else:
            try:
                parsed = ipaddress.ip_address(value)
            except ValueError:
                return kind
            if parsed.version != (4 if kind == "ipv4" else 6):
                return kind
            value = int(parsed)
        if (kind, value) in seen:
            return "repeated address"
        seen.add((kind, value))
    if not macs:
        return "no mac"
    if not message.HasField("attachment") or not message.attachment.nve:
        return "attachment"
    if message.requested_vid > 4094:
        return "vid"
    return None


class SignallingSurface(Surface):
    """A real controller with two embedded switches, spoken to over gRPC."""

    name = "signalling"
    check_every = 200

    def start(self) -> None:
        _, codec, key, SignallingError, pb = _signalling_modules()
        self.codec, self.key, self.error_type, self.pb = codec, key, SignallingError, pb
        self.events = {rpc: event for event, rpc in
                       {**codec.VM_REQUEST_RPCS, **codec.VM_REF_RPCS}.items()}
        self.tmp = tempfile.TemporaryDirectory(prefix="nve-fuzz-")
        self.loop = LoopThread()
        self.loop.run(self._start(), timeout=120)
        self.channel = grpc.insecure_channel(f"127.0.0.1:{self.ctl.port}", options=[
            ("grpc.max_send_message_length", 64 * 1024 * 1024)])

    async def _start(self) -> None:
        from controlplane.app import Controller
        from controlplane.config import load_config
        from controlplane.ratelimit import RateLimit
        from softswitch.ports import MemoryPorts
        from softswitch.server.runtime import SoftSwitch

        cfg = load_config(CONFIG)
        self.switches = {sw.name: SoftSwitch(ports=MemoryPorts([1, 2, 3, 4]), device_id=1,
                                             cpu_port=255, grpc_addr="127.0.0.1:0")
                         for sw in cfg.switches}
        for sw in self.switches.values():
            await sw.start()
        self.cfg = dataclasses.replace(
            cfg, aging_time=3600.0, database=Path(self.tmp.name) / "nve.db",
            switches=tuple(dataclasses.replace(s, grpc_addr=f"127.0.0.1:"
                                               f"{self.switches[s.name].grpc_port}")
                           for s in cfg.switches))
        # No rate limit: the fuzzer is one identity sending as fast as it can on purpose.
        self.ctl = Controller(self.cfg, insecure=True, rate_limit=RateLimit(0, 1))
        await self.ctl.__aenter__()
        self.service = self.ctl.service

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self.channel.close()
        with contextlib.suppress(Exception):
            self.loop.run(self._stop(), timeout=60)
        self.loop.close()
        self.tmp.cleanup()

    async def _stop(self) -> None:
        await self.ctl.__aexit__(None, None, None)
        for sw in self.switches.values():
            await sw.stop()

    def strategy(self) -> st.SearchStrategy[Any]:
        return signalling_strategy()

    def _call(self, service: str, method: str, request: bytes, identity: str | None) -> Any:
        metadata = ((self.key, identity),) if identity is not None else ()
        rpc = self.channel.unary_unary(f"/nve.v1.{service}/{method}")
        try:
            return rpc(request, metadata=metadata, timeout=CALL_TIMEOUT)
        except grpc.RpcError as error:
            if error.code() is grpc.StatusCode.DEADLINE_EXCEEDED:
                raise Hang(f"{method}: no answer within {CALL_TIMEOUT} s") from None
            return error

    def feed(self, value: Any) -> str:
        kind, method, identity, message = value
        pb = self.pb
        if kind == "answer":                               # the client's decoder
            try:
                answer = self.codec.decode_answer(message)
            except self.error_type:
                return "answer refused"
            expect(message.result in (pb.SUCCESS, pb.FAIL), f"decoded {message}")
            return "answer decoded" if answer else "answer"
        if kind == "read":
            nve, table = message
            request = (pb.TableRequest(nve=nve, table=table) if method == "ReadTables"
                       else pb.CounterRequest(nve=nve))
            reply = self._call("NveOperator", method, request.SerializeToString(), identity)
            return self._status_label(reply, method)
        service = "NveOperator" if kind in ("setvid", "migrate") else "TesNveSignalling"
        if kind == "raw":
            service = ("NveOperator" if method in ("SetVid", "Migrate", "ReadTables", "ListVms")
                       else "TesNveSignalling")
            reply = self._call(service, method, message, identity)
            if isinstance(reply, grpc.RpcError):
                return self._status_label(reply, method)
            if method in ("ReadTables", "ListVms"):
                return "raw ok"
            return "raw " + self._response_label(pb.Response.FromString(reply))
        try:
            payload = message.SerializeToString()
        except Exception as exc:  # noqa: BLE001 - the message cannot even be built
            return f"unsendable {type(exc).__name__}"
        reply = self._call(service, method, payload, identity)
        if isinstance(reply, grpc.RpcError):
            code = reply.code()
            # A message over gRPC's size limit is refused by the transport: a clear error.
            expect(code is grpc.StatusCode.RESOURCE_EXHAUSTED,
                   f"{method}: gRPC {code.name}: {reply.details()}")
            return "too large"
        response = pb.Response.FromString(reply)
        label = self._response_label(response)
        if kind in ("vm", "ref"):
            self._judge(kind, method, identity, message, response)
        return label

    def _status_label(self, reply: Any, method: str) -> str:
        if not isinstance(reply, grpc.RpcError):
            return f"{method} ok"
        code = reply.code()
        if undecodable(reply):
            return f"{method} undecodable"
        # UNKNOWN is what gRPC answers when a handler raises: a crash.
        expect(code not in (grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL),
               f"{method}: handler crashed: {code.name} {reply.details()}")
        return f"{method} {code.name}"

    def _response_label(self, response: Any) -> str:
        pb = self.pb
        expect(response.result in (pb.SUCCESS, pb.FAIL), f"result {response.result}")
        if response.result == pb.FAIL:
            expect(response.reason in (1, 2, 3, 4, 5) and bool(response.detail),
                   f"FAIL without a known reason and a detail: {response}")
            return pb.FailReason.Name(response.reason)
        expect(response.reason == pb.REASON_NONE, f"SUCCESS with a reason: {response}")
        expect(response.state in STATES, f"SUCCESS with state {response.state!r}")
        if response.state != "terminated":
            expect(2 <= response.vid <= 4094 and response.pcp <= 7, f"SUCCESS {response}")
        return "SUCCESS"

    def _judge(self, kind: str, method: str, identity: str | None, message: Any,
               response: Any) -> None:
        """The answer against the request, read independently of the controller."""
        pb = self.pb
        event = self.events[method]
        if identity is None:
            expect(response.reason == pb.FAILED_AUTHORIZATION, f"no identity: {response}")
            return
        try:
            if kind == "vm":
                request = self.codec.decode_vm_request(event, message)
            else:
                request = self.codec.decode_vm_ref(event, message)
        except self.error_type as error:
            expect(response.reason == pb.INVALID_REQUEST and response.detail == str(error),
                   f"malformed ({error}) but answered {response}")
            return
        if kind == "vm":
            why = _independently_invalid(message)
            expect(why is None, f"the codec accepted a request malformed by {why}: {message}")
        if identity not in HYPERVISORS:
            expect(response.reason == pb.FAILED_AUTHORIZATION,
                   f"unknown hypervisor {identity!r} answered {response}")
            return
        if response.result != pb.SUCCESS:
            return
        if kind == "vm":
            switch, ports, vns = HYPERVISORS[identity]
            vn = (message.vn.name if message.vn.WhichOneof("kind") == "name"
                  else next((n for n, v in VNS.items() if v == message.vn.vni), None))
            expect(vn in vns, f"{identity} joined VN {vn}: {response}")
            expect(message.attachment.nve == switch, f"{identity} attached at "
                                                      f"{message.attachment.nve}")
            expect(message.attachment.port in (0, *ports), f"{identity} port "
                                                            f"{message.attachment.port}")
        self.loop.run(self._recorded(identity, request.vm_id, response))

    async def _recorded(self, identity: str, vm_id: str, response: Any) -> None:
        record = self.service.records.get((vm_id, identity))
        if response.state == "terminated":
            expect(record is None, f"terminated {vm_id} still recorded")
            return
        expect(record is not None and str(record.phase) == response.state
               and record.vid == response.vid,
               f"SUCCESS {response} but the controller records {record}")

    def check(self) -> None:
        self.loop.run(self._check(), timeout=120)
        probe = self._call("TesNveSignalling", "KeepAlive",
                           self.pb.VmRef(vm_id=str(uuid.uuid4())).SerializeToString(), "hv1")
        expect(not isinstance(probe, grpc.RpcError), f"the server stopped serving: {probe}")

    async def _check(self) -> None:
        from controlplane.switch_agent import MANAGED_TABLES

        records = dict(self.service.records)
        stored = {(r.vm_id, r.hypervisor): r for r in self.service.store.load()}
        expect(stored == records, "the store and the controller's records differ")
        owners: dict[int, set[str]] = {}
        active: Counter[str] = Counter()
        vids: Counter[tuple[str, int, int]] = Counter()
        for record in records.values():
            hv = HYPERVISORS.get(record.hypervisor)
            expect(hv is not None and record.switch == hv[0] and record.vni in
                   {VNS[n] for n in hv[2]}, f"record outside its hypervisor's rights: {record}")
            for mac in record.macs:
                owners.setdefault(mac, set()).add(record.vm_id)
            active[record.vm_id] += record.active
            vids[(record.switch, record.port, record.vid)] += 1
        expect(all(n == 1 for n in vids.values()), f"one VID twice on a port: {vids}")
        expect(all(len(v) == 1 for v in owners.values()), f"a MAC bound to two VMs: {owners}")
        expect(all(n <= 1 for n in active.values()), f"a VM active twice: {active}")
        for name, agent in self.service.agents.items():
            found: set[Any] = set()
            for table in MANAGED_TABLES:
                found.update(await agent.client.read_table_entries(table))
            found.update(await agent.client.read_multicast_groups())
            wanted = set(self.service.desired(name).entries | self.service.desired(name).groups)
            expect(found == wanted,
                   f"{name}: the tables differ from the controller's state: only on the switch "
                   f"{sorted(map(str, found - wanted))[:3]}, missing "
                   f"{sorted(map(str, wanted - found))[:3]}; agent believes installed == found: "
                   f"{agent.installed == found}, == wanted: {agent.installed == wanted}")
        if len(records) > 40:                              # keep the state (and each step) small
            from controlplane.lifecycle import Event
            from controlplane.signalling.messages import VmRefRequest
            for vm_id, hypervisor in list(records):
                await self.service.signal(hypervisor, VmRefRequest(Event.TERMINATE, vm_id))


# -- surface: the embedded target's P4Runtime server ------------------------------------------

MatchType = p4r.FieldMatch


def _canonical(value: int) -> bytes:
    return value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big")


@dataclass(frozen=True)
class TableInfo:
    id: int
    name: str
    size: int
    fields: tuple[tuple[int, int, int], ...]      # (id, bitwidth, match type)
    actions: tuple[tuple[int, tuple[tuple[int, int], ...]], ...]   # table actions: (id, params)
    default_only: tuple[int, ...]
    needs_priority: bool


def _p4info_tables() -> tuple[list[TableInfo], set[int]]:
    from controlplane.p4rt.p4info import load_p4info

    p4info = load_p4info(P4INFO)
    actions = {a.preamble.id: tuple((p.id, p.bitwidth) for p in a.params) for a in p4info.actions}
    tables = []
    for t in p4info.tables:
        fields = tuple((m.id, m.bitwidth, m.match_type) for m in t.match_fields)
        table_actions = tuple((r.id, actions[r.id]) for r in t.action_refs if r.scope != 2)
        default_only = tuple(r.id for r in t.action_refs if r.scope == 2)
        tables.append(TableInfo(t.preamble.id, t.preamble.name, t.size, fields, table_actions,
                                default_only, any(f[2] in (4, 5, 6) for f in fields)))
    ids = {t.id for t in tables} | set(actions) | {c.preamble.id for c in p4info.counters}
    return tables, ids


EXACT, LPM, TERNARY, RANGE, OPTIONAL = 2, 3, 4, 5, 6
MUTATIONS = ("unknown_table", "unknown_field", "duplicate_field", "missing_exact", "too_wide",
             "empty_value", "wrong_kind", "ternary_mask_zero", "ternary_outside_mask",
             "lpm_prefix_zero", "lpm_prefix_too_long", "lpm_host_bits", "bad_priority",
             "no_action", "unknown_action", "default_only_action", "missing_param",
             "duplicate_param", "unknown_param", "param_too_wide", "is_const", "idle_timeout",
             "meter_config", "no_entity", "no_type")
REQUEST_MUTATIONS = ("wrong_device", "role", "no_election_id", "low_election_id",
                     "bad_atomicity")


@dataclass
class UpdatePlan:
    """One update and what the fuzzer knows about it."""

    op: int                        # p4r.Update.Type
    table: TableInfo
    match: dict[int, tuple]        # field id -> ("exact", v) | ("lpm", v, plen) | ("ternary", v, m)
    priority: int
    action: tuple[int, tuple[tuple[int, int], ...]] | None   # (action id, ((param id, value), ...))
    mutation: str | None = None
    padded: bool = False

    def key(self) -> tuple:
        return (self.table.id, tuple(sorted(self.match.items())), self.priority)


class P4RuntimeSurface(Surface):
    """The embedded target's P4Runtime server with the NVE pipeline; the fuzzer is primary."""

    name = "p4runtime"
    check_every = 300

    def start(self) -> None:
        self.tables, self.known_ids = _p4info_tables()
        self.writable = [t for t in self.tables if t.actions]
        self.loop = LoopThread()
        self.loop.run(self._start_switch(), timeout=120)
        self.address = f"127.0.0.1:{self.switch.grpc_port}"
        self.channel = grpc.insecure_channel(self.address)
        self.stub = p4r_grpc.P4RuntimeStub(self.channel)
        # Below any controller's clock-based id, so that one can take over at the end.
        self.election_id = int(time.time() * 1000) - 10**7
        self.outbox: queue.Queue[Any] = queue.Queue()
        self.stream = self.stub.StreamChannel(iter(self.outbox.get, None))
        self._send_stream(p4r.StreamMessageRequest(arbitration=p4r.MasterArbitrationUpdate(
            device_id=1, election_id=U128.encode(self.election_id))))
        first = next(self.stream)
        expect(first.arbitration.status.code == 0, f"fuzzer not primary: {first}")
        self.stream_messages: queue.Queue[Any] = queue.Queue()
        threading.Thread(target=self._drain_stream, daemon=True).start()
        from controlplane.p4rt.schema import PipelineSchema
        schema = PipelineSchema.load(P4INFO, BMV2_JSON)
        self.stub.SetForwardingPipelineConfig(p4r.SetForwardingPipelineConfigRequest(
            device_id=1, election_id=U128.encode(self.election_id),
            action=p4r.SetForwardingPipelineConfigRequest.VERIFY_AND_COMMIT,
            config=schema.pipeline_config()), timeout=CALL_TIMEOUT)
        self.shadow: dict[tuple, tuple] = {}

    async def _start_switch(self) -> None:
        from softswitch.ports import MemoryPorts
        from softswitch.server.runtime import SoftSwitch

        self.switch = SoftSwitch(ports=MemoryPorts([1, 2, 3, 4]), device_id=1, cpu_port=255,
                                 grpc_addr="127.0.0.1:0")
        await self.switch.start()

    def _send_stream(self, message: Any) -> None:
        self.outbox.put(message)

    def _drain_stream(self) -> None:
        with contextlib.suppress(grpc.RpcError, ValueError):
            for message in self.stream:
                self.stream_messages.put(message)
        self.stream_messages.put(None)

    def stop(self) -> None:
        self.outbox.put(None)
        with contextlib.suppress(Exception):
            self.channel.close()
        with contextlib.suppress(Exception):
            self.loop.run(self.switch.stop(), timeout=30)
        self.loop.close()

    # strategies ---------------------------------------------------------------------------
    def _value(self, width: int) -> st.SearchStrategy[int]:
        small = st.integers(0, min(3, (1 << width) - 1))
        return weighted((4, small), (1, st.integers(0, (1 << width) - 1)))

    def _field(self, fid: int, width: int, kind: int) -> st.SearchStrategy[tuple | None]:
        if kind == EXACT:
            return self._value(width).map(lambda v: ("exact", v))
        if kind == LPM:
            def lpm(v: int, plen: int) -> tuple:
                return ("lpm", v >> (width - plen) << (width - plen), plen)
            return st.one_of(st.none(), st.builds(lpm, self._value(width), st.integers(1, width)))

        def ternary(v: int, m: int) -> tuple | None:
            return ("ternary", v & m, m)
        full = (1 << width) - 1
        mask = st.one_of(st.sampled_from([full, 1]), st.integers(1, full))
        return st.one_of(st.none(), st.builds(ternary, self._value(width), mask))

    def _plan(self, table: TableInfo) -> st.SearchStrategy[UpdatePlan]:
        fields = st.fixed_dictionaries({fid: self._field(fid, width, kind)
                                        for fid, width, kind in table.fields})
        actions = st.one_of(*[st.tuples(st.just(aid), st.tuples(*[
            st.tuples(st.just(pid), self._value(width)) for pid, width in params]))
            for aid, params in table.actions])
        priority = st.integers(1, 4) if table.needs_priority else st.just(0)
        op = st.sampled_from([p4r.Update.INSERT] * 3 + [p4r.Update.MODIFY, p4r.Update.DELETE])
        return st.builds(
            lambda o, m, pr, a, mut, pad: UpdatePlan(o, table, {k: v for k, v in m.items()
                                                               if v is not None}, pr, a, mut, pad),
            op, fields, priority, actions,
            weighted((6, st.none()), (4, st.sampled_from(MUTATIONS))), st.booleans())

    def strategy(self) -> st.SearchStrategy[Any]:
        # Built once per table: strategies made inside a flatmap are re-validated every draw.
        update = st.one_of(*[self._plan(t) for t in self.writable])
        write = st.tuples(st.just("write"), st.lists(update, min_size=1, max_size=4),
                          weighted((6, st.just(None)), (1, st.sampled_from(REQUEST_MUTATIONS))),
                          st.sampled_from([0, 0, 0, 1]))          # CONTINUE / ROLLBACK
        read = st.tuples(st.just("read"), st.builds(
            lambda tid, dev, fm, prio: (tid, dev, fm, prio),
            st.one_of(st.just(0), st.sampled_from([t.id for t in self.tables]), U32),
            st.sampled_from([1, 1, 1, 0, 2]), st.lists(st.binary(max_size=8), max_size=2),
            st.integers(0, 5)), st.none(), st.none())
        pipeline = st.tuples(st.just("pipeline"), st.builds(
            lambda action, blob, rtype: (action, blob, rtype),
            st.integers(0, 6), st.binary(max_size=64), st.integers(0, 6)), st.none(), st.none())
        stream = st.tuples(st.just("stream"), st.builds(
            lambda dev, eid, role, payload: (dev, eid, role, payload),
            st.sampled_from([1, 1, 2, 0]),
            st.one_of(st.none(), st.integers(1, self.election_id - 1), st.just(self.election_id)),
            st.sampled_from(["", "", "other-role"]), st.binary(max_size=40)), st.none(), st.none())
        raw = st.tuples(st.just("raw"), st.sampled_from(["Write", "Read",
                                                         "SetForwardingPipelineConfig",
                                                         "GetForwardingPipelineConfig",
                                                         "Capabilities"]),
                        st.binary(max_size=120), st.none())
        return weighted((12, write), (2, read), (1, pipeline), (1, stream), (1, raw))

    # encoding -------------------------------------------------------------------------------
    def _bytes(self, value: int, width: int, padded: bool) -> bytes:
        return value.to_bytes((width + 7) // 8, "big") if padded else _canonical(value)

    def _encode(self, plan: UpdatePlan) -> tuple[p4r.Update, str]:
        """The update, and whether it is 'valid' or 'invalid' (then any error will do)."""
        table, mutation = plan.table, plan.mutation
        verdict = "valid" if mutation is None else "invalid"
        widths = {fid: (width, kind) for fid, width, kind in table.fields}
        entry = p4r.TableEntry(table_id=table.id, priority=plan.priority)
        for fid, spec in sorted(plan.match.items()):
            width = widths[fid][0]
            fm = p4r.FieldMatch(field_id=fid)
            if spec[0] == "exact":
                fm.exact.value = self._bytes(spec[1], width, plan.padded)
            elif spec[0] == "lpm":
                fm.lpm.value = self._bytes(spec[1], width, plan.padded)
                fm.lpm.prefix_len = spec[2]
            else:
                fm.ternary.value = self._bytes(spec[1], width, plan.padded)
                fm.ternary.mask = self._bytes(spec[2], width, plan.padded)
            entry.match.append(fm)
        if plan.action is not None:
            action_id, params = plan.action
            entry.action.action.action_id = action_id
            action_params = dict(table.actions)[action_id]
            pwidths = dict(action_params)
            for pid, value in params:
                entry.action.action.params.append(p4r.Action.Param(
                    param_id=pid, value=self._bytes(value, pwidths[pid], plan.padded)))
        update = p4r.Update(type=plan.op)
        first = entry.match[0] if entry.match else None
        exact_fields = [fid for fid, _, kind in table.fields if kind == EXACT]
        match mutation:
            case None:
                pass
            case "unknown_table":
                entry.table_id = self._unknown_id()
            case "unknown_field":
                entry.match.append(p4r.FieldMatch(field_id=99, exact=p4r.FieldMatch.Exact(value=b"\1")))
            case "duplicate_field" if first is not None:
                entry.match.append(first)
            case "missing_exact" if exact_fields:
                kept = [m for m in entry.match if m.field_id != exact_fields[0]]
                del entry.match[:]
                entry.match.extend(kept)
            case "too_wide" if first is not None:
                width = widths[first.field_id][0]
                kind = first.WhichOneof("field_match_type")
                getattr(first, kind).value = _canonical(1 << width)
                if kind == "ternary":
                    first.ternary.mask = _canonical((1 << (width + 1)) - 1)
            case "empty_value" if first is not None:
                getattr(first, first.WhichOneof("field_match_type")).value = b""
            case "wrong_kind" if first is not None:
                value = getattr(first, first.WhichOneof("field_match_type")).value
                if first.WhichOneof("field_match_type") == "exact":
                    first.ternary.value, first.ternary.mask = value, value or b"\1"
                else:
                    first.exact.value = value
            case "ternary_mask_zero" if any(m.HasField("ternary") for m in entry.match):
                next(m for m in entry.match if m.HasField("ternary")).ternary.mask = b"\0"
            case "ternary_outside_mask" if any(m.HasField("ternary") and
                                               int.from_bytes(m.ternary.mask, "big") !=
                                               (1 << widths[m.field_id][0]) - 1
                                               for m in entry.match):
                m = next(m for m in entry.match if m.HasField("ternary") and
                         int.from_bytes(m.ternary.mask, "big") != (1 << widths[m.field_id][0]) - 1)
                mask = int.from_bytes(m.ternary.mask, "big")
                full = (1 << widths[m.field_id][0]) - 1
                m.ternary.value = _canonical((full & ~mask) | int.from_bytes(m.ternary.value, "big"))
            case "lpm_prefix_zero" if any(m.HasField("lpm") for m in entry.match):
                next(m for m in entry.match if m.HasField("lpm")).lpm.prefix_len = 0
            case "lpm_prefix_too_long" if any(m.HasField("lpm") for m in entry.match):
                m = next(m for m in entry.match if m.HasField("lpm"))
                m.lpm.prefix_len = widths[m.field_id][0] + 1
            case "lpm_host_bits" if any(m.HasField("lpm") and m.lpm.prefix_len <
                                        widths[m.field_id][0] for m in entry.match):
                m = next(m for m in entry.match if m.HasField("lpm") and m.lpm.prefix_len <
                         widths[m.field_id][0])
                m.lpm.value = _canonical(int.from_bytes(m.lpm.value, "big") | 1)
            case "bad_priority":
                entry.priority = 0 if table.needs_priority else 7
            case "no_action" if plan.op == p4r.Update.INSERT:
                entry.ClearField("action")
            case "unknown_action" if plan.op != p4r.Update.DELETE:
                entry.action.action.action_id = self._unknown_id()
            case "default_only_action" if table.default_only and plan.op != p4r.Update.DELETE:
                entry.action.action.action_id = table.default_only[0]
                del entry.action.action.params[:]
            case "missing_param" if plan.op != p4r.Update.DELETE and entry.action.action.params:
                del entry.action.action.params[-1]
            case "duplicate_param" if plan.op != p4r.Update.DELETE and entry.action.action.params:
                entry.action.action.params.append(entry.action.action.params[0])
            case "unknown_param" if plan.op != p4r.Update.DELETE:
                entry.action.action.params.append(p4r.Action.Param(param_id=77, value=b"\1"))
            case "param_too_wide" if plan.op != p4r.Update.DELETE and entry.action.action.params:
                param = entry.action.action.params[0]
                param.value = _canonical(1 << dict(dict(table.actions)[
                    entry.action.action.action_id])[param.param_id])
            case "is_const" if plan.op != p4r.Update.DELETE:
                entry.is_const = True
            case "idle_timeout" if plan.op != p4r.Update.DELETE:
                entry.idle_timeout_ns = 10**9
            case "meter_config" if plan.op != p4r.Update.DELETE:
                entry.meter_config.cir = 1
            case "no_entity":
                return update, "invalid"
            case "no_type":
                update.entity.table_entry.CopyFrom(entry)
                update.type = p4r.Update.UNSPECIFIED
                return update, "invalid"
            case _:
                verdict = "valid"                    # the mutation does not apply here
        if mutation is None and plan.op == p4r.Update.DELETE:
            verdict = "valid"
        update.entity.table_entry.CopyFrom(entry)
        return update, verdict

    def _unknown_id(self) -> int:
        candidate = 0x0A00_0000 + len(self.shadow)
        while candidate in self.known_ids:
            candidate += 1
        return candidate

    # one input -----------------------------------------------------------------------------
    def feed(self, value: Any) -> str:
        kind = value[0]
        if kind == "write":
            return self._write(value[1], value[2], value[3])
        if kind == "read":
            return self._read(*value[1])
        if kind == "pipeline":
            return self._pipeline(*value[1])
        if kind == "stream":
            return self._stream(*value[1])
        return self._raw(value[1], value[2])

    def _write(self, plans: list[UpdatePlan], request_mutation: str | None, rollback: int) -> str:
        updates, verdicts = zip(*(self._encode(p) for p in plans), strict=True)
        request = p4r.WriteRequest(device_id=1, election_id=U128.encode(self.election_id),
                                   updates=updates)
        if rollback:
            request.atomicity = p4r.WriteRequest.ROLLBACK_ON_ERROR
        match request_mutation:
            case "wrong_device":
                request.device_id = 2
            case "role":
                request.role = "fuzz-role"
            case "no_election_id":
                request.ClearField("election_id")
            case "low_election_id":
                request.election_id.CopyFrom(U128.encode(self.election_id - 1))
            case "bad_atomicity":
                request.atomicity = 9
        codes = self._send_write(request, len(updates))
        if request_mutation is not None:
            expect(codes is None, f"{request_mutation}: a request-wide error was expected, got {codes}")
            return f"refused {request_mutation}"
        expect(codes is not None, "a valid WriteRequest was refused as a whole")
        # Predict each update in order on a copy of the shadow: the server applies them one
        # after the other, so an update sees the effect of those before it.
        shadow = dict(self.shadow)
        wants: list[int | None] = []                   # None: invalid, must fail somehow
        for plan, verdict in zip(plans, verdicts, strict=True):
            if verdict == "invalid":
                wants.append(None)
                continue
            key = plan.key()
            full = sum(k[0] == plan.table.id for k in shadow) >= plan.table.size
            want = {p4r.Update.INSERT: 6 if key in shadow else 8 if full else 0,  # ALREADY_EXISTS,
                    p4r.Update.MODIFY: 0 if key in shadow else 5,       # RESOURCE_EXHAUSTED,
                    p4r.Update.DELETE: 0 if key in shadow else 5}[plan.op]  # NOT_FOUND
            wants.append(want)
            if want == 0 and (not rollback or all(w == 0 for w in wants)):
                if plan.op == p4r.Update.DELETE:
                    shadow.pop(key)
                else:
                    shadow[key] = (plan.action[0], tuple(sorted(plan.action[1])))  # type: ignore[index]
        described = [f"{p4r.Update.Type.Name(p.op)} {p.table.name.rsplit('.', 1)[-1]} "
                     f"{p.mutation or ''}" for p in plans]
        if rollback:
            first = next((i for i, w in enumerate(wants) if w != 0), None)
            if first is None:
                expect(codes == [0] * len(codes), f"ROLLBACK batch {described}: {codes}")
                self.shadow = shadow
                return "ok"
            want = wants[first]
            expect((codes[first] != 0 if want is None else codes[first] == want)
                   and all(c == 10 for i, c in enumerate(codes) if i != first),
                   f"ROLLBACK batch {described}: codes {codes}, expected update {first} to "
                   f"fail ({want}) and the others ABORTED")
            return "batch rolled back"
        for i, (want, code) in enumerate(zip(wants, codes, strict=True)):
            if want is None:
                expect(code != 0, f"invalid update accepted: {described[i]} {plans[i]}")
            else:
                expect(code == want, f"update {described[i]} {plans[i].key()}: code {code}, "
                                     f"expected {want}")
        self.shadow = shadow
        failed = sum(c != 0 for c in codes)
        return "ok" if not failed else f"{failed} update(s) refused"

    def _send_write(self, request: p4r.WriteRequest, count: int) -> list[int] | None:
        """Per-update canonical codes, or None for a request-wide refusal."""
        try:
            self.stub.Write(request, timeout=CALL_TIMEOUT)
            return [0] * count
        except grpc.RpcError as error:
            code = error.code()
            if code is grpc.StatusCode.DEADLINE_EXCEEDED:
                raise Hang("Write") from None
            details = _p4_error_details(error)
            if code is grpc.StatusCode.UNKNOWN and details is not None:
                expect(len(details) == count, f"{len(details)} error details for {count} updates")
                return details
            expect(code not in (grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL),
                   f"Write: {code.name}: {error.details()}")
            return None

    def _read(self, table_id: int, device: int, raw_matches: list[bytes], priority: int) -> str:
        entry = p4r.TableEntry(table_id=table_id, priority=priority)
        for index, value in enumerate(raw_matches):
            entry.match.append(p4r.FieldMatch(field_id=index + 1,
                                              exact=p4r.FieldMatch.Exact(value=value)))
        request = p4r.ReadRequest(device_id=device, entities=[p4r.Entity(table_entry=entry)])
        try:
            for _ in self.stub.Read(request, timeout=CALL_TIMEOUT):
                pass
            return "read ok"
        except grpc.RpcError as error:
            return self._status("Read", error)

    def _pipeline(self, action: int, blob: bytes, response_type: int) -> str:
        if action == 6:                                     # Get, with any response type
            try:
                self.stub.GetForwardingPipelineConfig(p4r.GetForwardingPipelineConfigRequest(
                    device_id=1, response_type=response_type), timeout=CALL_TIMEOUT)
                expect(response_type <= 3, f"unknown response_type {response_type} accepted")
                return "get ok"
            except grpc.RpcError as error:
                return self._status("GetForwardingPipelineConfig", error)
        request = p4r.SetForwardingPipelineConfigRequest(
            device_id=1, election_id=U128.encode(self.election_id), action=action)
        if action != 4:                                     # COMMIT takes no config
            request.config.p4info.ParseFromString(b"")
            request.config.p4_device_config = blob
            with contextlib.suppress(Exception):
                request.config.p4info.ParseFromString(blob)
        try:
            self.stub.SetForwardingPipelineConfig(request, timeout=CALL_TIMEOUT)
        except grpc.RpcError as error:
            return self._status("SetForwardingPipelineConfig", error)
        # Only VERIFY (1) of something harmless may pass; anything committed would be a bug.
        expect(action == 1, f"pipeline action {action} with a junk config was accepted")
        return "verify ok"

    def _stream(self, device: int, election_id: int | None, role: str, payload: bytes) -> str:
        """A second controller: arbitration with odd values, then a packet-out (not primary)."""
        messages = [p4r.StreamMessageRequest(arbitration=p4r.MasterArbitrationUpdate(
            device_id=device, role=p4r.Role(name=role) if role else None,
            election_id=U128.encode(election_id) if election_id is not None else None)),
            p4r.StreamMessageRequest(packet=p4r.PacketOut(payload=payload))]
        call = self.stub.StreamChannel(iter(messages), timeout=5)
        got: list[Any] = []
        try:
            for message in call:
                got.append(message)
                if len(got) >= 2:
                    break
        except grpc.RpcError as error:
            if error.code() is grpc.StatusCode.DEADLINE_EXCEEDED:
                return "stream open"
            return self._status("StreamChannel", error)
        finally:
            call.cancel()
        for message in got:
            if message.HasField("arbitration"):
                expect(message.arbitration.status.code != 0 or election_id is None or
                       election_id < self.election_id, f"a second controller became primary: {message}")
        return "stream answered"

    def _raw(self, method: str, blob: bytes) -> str:
        rpc = self.channel.unary_unary(f"/p4.v1.P4Runtime/{method}")
        try:
            rpc(blob, timeout=CALL_TIMEOUT)
            return "raw ok"
        except grpc.RpcError as error:
            return self._status(method, error)

    def _status(self, method: str, error: grpc.RpcError) -> str:
        code = error.code()
        if code is grpc.StatusCode.DEADLINE_EXCEEDED:
            raise Hang(method)
        if undecodable(error):
            return f"{method} undecodable"
        if code is grpc.StatusCode.UNKNOWN:
            expect(_p4_error_details(error) is not None, f"{method}: UNKNOWN {error.details()}")
        expect(code is not grpc.StatusCode.INTERNAL, f"{method}: INTERNAL {error.details()}")
        return f"{method} {code.name}"

    # consistency ------------------------------------------------------------------------
    def check(self) -> None:
        expect(self._read_all() == self.shadow, self._describe_difference())
        while not self.stream_messages.empty():
            message = self.stream_messages.get()
            expect(message is not None, "the fuzzer's primary stream was closed by the switch")
            expect(not message.HasField("arbitration") or message.arbitration.status.code == 0,
                   f"the fuzzer lost primary: {message}")

    def _read_all(self) -> dict[tuple, tuple]:
        found: dict[tuple, tuple] = {}
        request = p4r.ReadRequest(device_id=1, entities=[p4r.Entity(table_entry=p4r.TableEntry())])
        for reply in self.stub.Read(request, timeout=CALL_TIMEOUT):
            for entity in reply.entities:
                e = entity.table_entry
                if e.is_const:
                    continue
                match = {}
                for fm in e.match:
                    kind = fm.WhichOneof("field_match_type")
                    if kind == "exact":
                        match[fm.field_id] = ("exact", int.from_bytes(fm.exact.value, "big"))
                    elif kind == "lpm":
                        match[fm.field_id] = ("lpm", int.from_bytes(fm.lpm.value, "big"),
                                              fm.lpm.prefix_len)
                    else:
                        match[fm.field_id] = ("ternary", int.from_bytes(fm.ternary.value, "big"),
                                              int.from_bytes(fm.ternary.mask, "big"))
                params = tuple(sorted((p.param_id, int.from_bytes(p.value, "big"))
                                      for p in e.action.action.params))
                found[(e.table_id, tuple(sorted(match.items())), e.priority)] = (
                    e.action.action.action_id, params)
        return found

    def _describe_difference(self) -> str:
        found = self._read_all()
        only_switch = set(found.items()) - set(self.shadow.items())
        only_shadow = set(self.shadow.items()) - set(found.items())
        return (f"tables differ from the shadow: {len(only_switch)} only on the switch "
                f"{list(only_switch)[:2]}, {len(only_shadow)} only in the shadow "
                f"{list(only_shadow)[:2]}")

    def finish(self) -> str:
        """A controller takes the fuzzed switch over and must converge it to its own state."""
        return "controller take-over: " + self.loop.run(self._takeover(), timeout=120)

    async def _takeover(self) -> str:
        from controlplane.app import Controller
        from controlplane.config import load_config
        from controlplane.ratelimit import RateLimit
        from controlplane.switch_agent import MANAGED_TABLES
        from softswitch.ports import MemoryPorts
        from softswitch.server.runtime import SoftSwitch

        other = SoftSwitch(ports=MemoryPorts([1, 2, 3, 4]), device_id=1, cpu_port=255,
                           grpc_addr="127.0.0.1:0")
        await other.start()
        try:
            with tempfile.TemporaryDirectory(prefix="nve-fuzz-") as tmp:
                cfg = load_config(CONFIG)
                ports = {"nve1": self.switch.grpc_port, "nve2": other.grpc_port}
                cfg = dataclasses.replace(
                    cfg, database=Path(tmp) / "nve.db",
                    switches=tuple(dataclasses.replace(s, grpc_addr=f"127.0.0.1:{ports[s.name]}")
                                   for s in cfg.switches))
                async with Controller(cfg, insecure=True, rate_limit=RateLimit(0, 1)) as ctl:
                    agent = ctl.service.agents["nve1"]
                    found: set[Any] = set()
                    for table in MANAGED_TABLES:
                        found.update(await agent.client.read_table_entries(table))
                    found.update(await agent.client.read_multicast_groups())
                    wanted = ctl.service.desired("nve1")
                    expect(found == set(wanted.entries | wanted.groups),
                           "the controller did not converge the fuzzed switch")
                    return f"{len(found)} entries, {agent.stats.updates} updates to converge"
        finally:
            await other.stop()


def undecodable(error: grpc.RpcError) -> bool:
    """Bytes that are no protobuf of the RPC's type: grpc-python refuses them before any handler
    runs (aio: UNKNOWN "Error parsing message"; sync: INTERNAL "Exception deserializing")."""
    details = (error.details() or "").lower()
    return ((error.code() is grpc.StatusCode.UNKNOWN and "error parsing message" in details)
            or (error.code() is grpc.StatusCode.INTERNAL and "deserializ" in details))


def _p4_error_details(error: grpc.RpcError) -> list[int] | None:
    """The canonical codes of a Write's per-update p4.v1.Error details, if it carries them."""
    for key, value in error.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            status = rpc_status.Status.FromString(value)
            codes = []
            for detail in status.details:
                err = p4r.Error()
                if not detail.Unpack(err):
                    return None
                codes.append(err.canonical_code)
            return codes
    return None


# -- surface: VDP / ECP / LLDP ---------------------------------------------------------------

def vdp_strategy() -> st.SearchStrategy[Any]:
    from controlplane.signalling.vdp.wire import (
        ETHERTYPE_ECP,
        ETHERTYPE_LLDP,
        NEAREST_CUSTOMER_BRIDGE,
        Ecpdu,
        EcpOp,
        EthernetFrame,
        FilterEntry,
        FilterFormat,
        VdpPdu,
        VdpTlvType,
        VsiIdFormat,
        VsiTlv,
    )
    station = bytes.fromhex("525400abcdef")
    entry = st.builds(FilterEntry, vid=st.integers(0, 4095), pcp=st.integers(0, 7),
                      ps=st.booleans(), mac=st.sampled_from([station, bytes(6),
                                                              bytes.fromhex("525400000001")]),
                      group_id=st.none())
    vsi = st.builds(
        VsiTlv, mode=st.sampled_from([VdpTlvType.PRE_ASSOCIATE, VdpTlvType.PRE_ASSOCIATE_RR,
                                      VdpTlvType.ASSOCIATE, VdpTlvType.DE_ASSOCIATE]),
        status=weighted((4, st.just(0)), (1, st.integers(0, 255))),
        type_id=weighted((4, st.sampled_from([5001, 5002])), (1, st.integers(0, 2**24 - 1))),
        type_version=st.integers(0, 255),
        id_format=weighted((4, st.just(VsiIdFormat.UUID)), (1, st.sampled_from(list(VsiIdFormat)))),
        vsi_id=weighted((4, st.uuids().map(lambda u: u.bytes)), (1, st.just(bytes(16)))),
        filter_format=st.just(FilterFormat.MAC_VID),
        entries=st.one_of(st.lists(entry, max_size=4).map(tuple), st.builds(
            lambda vid, macs: tuple(FilterEntry(vid=vid, pcp=0, ps=False, mac=m, group_id=None)
                                    for m in macs),
            st.integers(0, 4095), st.lists(st.sampled_from([station, bytes.fromhex(
                "525400000001")]), min_size=1, max_size=2, unique=True))))
    manager = st.sampled_from([b"nve1".ljust(16, b"\0"), b"other".ljust(16, b"\0"), bytes(16)])
    vdp = st.builds(VdpPdu, manager_id=manager, tlvs=st.lists(vsi, max_size=3).map(tuple))
    ecp = st.builds(lambda op, seq, payload: Ecpdu(op, seq, payload),
                    st.sampled_from([EcpOp.REQUEST, EcpOp.REQUEST, EcpOp.ACK]),
                    st.integers(0, 0xFFFF), vdp.map(lambda p: p.encode()))
    ecp_frame = ecp.map(lambda e: EthernetFrame(NEAREST_CUSTOMER_BRIDGE, station, ETHERTYPE_ECP,
                                                e.encode()).encode())

    def lldp(chassis: bytes, ttl: int, evb: bytes | None, extra: bytes) -> bytes:
        def tlv(kind: int, value: bytes) -> bytes:
            return (kind << 9 | len(value)).to_bytes(2, "big") + value
        body = (tlv(1, b"\x04" + chassis) + tlv(2, b"\x03" + station) + tlv(3, ttl.to_bytes(2, "big"))
                + (tlv(127, bytes.fromhex("0080c20d") + evb) if evb is not None else b"")
                + extra + tlv(0, b""))
        return EthernetFrame(NEAREST_CUSTOMER_BRIDGE, station, ETHERTYPE_LLDP, body).encode()

    lldp_frame = st.builds(lldp, st.sampled_from([station, bytes.fromhex("525400000002")]),
                           st.integers(0, 300), st.one_of(st.none(), st.binary(min_size=5,
                                                                                max_size=5)),
                           st.binary(max_size=8))
    valid = st.one_of(ecp_frame, ecp_frame, lldp_frame)

    def mutate(frame: bytes, edits: list[tuple[int, int, int]]) -> bytes:
        data = bytearray(frame)
        for kind, position, value in edits:
            if not data:
                break
            at = position % len(data)
            if kind == 0:
                data[at] = value
            elif kind == 1:
                del data[at:]
            elif kind == 2:
                data[at:at] = bytes([value])
            else:
                del data[at]
        return bytes(data)

    edit = st.tuples(st.integers(0, 3), st.integers(0, 2000), st.integers(0, 255))
    mutated = st.builds(mutate, valid, st.lists(edit, min_size=1, max_size=4))
    random_frame = st.builds(lambda ethertype, rest: b"\1\x80\xc2\0\0\0" + station
                             + ethertype + rest, st.sampled_from([b"\x89\x40", b"\x88\xcc",
                                                                   b"\x81\x00", b"\x08\x00"]),
                             st.binary(max_size=120))
    return weighted((3, valid), (5, mutated), (2, random_frame), (1, st.binary(max_size=80)))


class VdpSurface(Surface):
    """Frames into the bridge side of EVB/ECP/VDP, as a station (or an attacker) sends them."""

    name = "vdp"
    check_every = 1000

    def start(self) -> None:
        from controlplane.signalling.vdp import translate, wire
        from controlplane.signalling.vdp.evb import BridgeIdentity, bridge_policy
        from controlplane.signalling.vdp.port import StationPort

        self.wire, self.translate = wire, translate
        self.make_port = lambda: StationPort(
            BridgeIdentity(chassis_mac=bytes.fromhex("020000000101"), system_name="nve1", port=1),
            bridge_policy(30.0), 30.0)
        self.port = self.make_port()
        self.now = 1000.0

    def strategy(self) -> st.SearchStrategy[Any]:
        return vdp_strategy()

    def feed(self, frame: bytes) -> str:
        wire = self.wire
        self.now += 0.05
        try:
            ethernet = wire.decode_ethernet(frame)
        except wire.VdpCodecError:
            return "ethernet refused"
        try:
            out = self.port.receive(ethernet, self.now)
        except wire.VdpCodecError:
            return "frame refused"
        for sent in out.frames + self.port.poll(self.now):
            reply = wire.decode_ethernet(sent)          # ours must always decode
            if reply.ethertype == wire.ETHERTYPE_ECP:
                wire.decode_ecpdu(reply.payload)
            elif reply.ethertype == wire.ETHERTYPE_LLDP:
                wire.decode_lldpdu(reply.payload)
        label = "accepted"
        for pdu in out.vdp:
            again = wire.decode_vdp(pdu.encode())
            expect(again == pdu, f"VDP PDU does not survive encode/decode: {pdu} -> {again}")
            for tlv in pdu.tlvs:
                if isinstance(tlv, wire.VsiTlv):
                    try:
                        self.translate.check_manager(pdu.manager_id, "nve1")
                        self.translate.to_request(tlv, nve="nve1", port=1)
                        label = "vsi request"
                    except self.translate.VdpRefusal:
                        label = "vsi refused"
                elif isinstance(tlv, wire.BadVsiTlv):
                    label = "vsi invalid format"
        if ethernet.ethertype == wire.ETHERTYPE_LLDP:
            pdu = wire.decode_lldpdu(ethernet.payload)
            again = wire.decode_lldpdu(pdu.encode())
            expect(again == pdu, f"LLDPDU does not survive encode/decode: {pdu} -> {again}")
            label = "lldp"
        return label

    def check(self) -> None:
        self.port = self.make_port()                    # a fresh station from time to time


SURFACES: dict[str, Callable[[], Surface]] = {
    "signalling": SignallingSurface, "p4runtime": P4RuntimeSurface, "vdp": VdpSurface}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=DEFAULT_EXAMPLES,
                        help="inputs per surface (default: $NVE_FUZZ_EXAMPLES or 100000)")
    parser.add_argument("--surface", choices=[*SURFACES, "all"], default="all")
    parser.add_argument("--seed", type=int, default=None, help="replay a run")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    names = list(SURFACES) if args.surface == "all" else [args.surface]
    results = []
    for name in names:
        surface = SURFACES[name]()
        print(f"fuzzing {name}: {args.examples} inputs ...", flush=True)
        stats = run_surface(surface, args.examples, args.seed)
        results.append(stats)
        print(stats.line(), flush=True)
        if stats.note:
            print(f"  {stats.note}", flush=True)
        if stats.failure:
            print(f"  FAILURE: {stats.failure}", flush=True)
    print("\nsurface     inputs   crashes  hangs  checks   seconds")
    for stats in results:
        print(f"{stats.surface:<11} {stats.inputs:>7}   {stats.crashes:>7}  {stats.hangs:>5}  "
              f"{stats.checks:>6}  {stats.seconds:>8.1f}")
    print(f"total       {sum(s.inputs for s in results):>7}   "
          f"{sum(s.crashes for s in results):>7}  {sum(s.hangs for s in results):>5}")
    return 1 if any(s.crashes for s in results) else 0


if __name__ == "__main__":
    sys.exit(main())
