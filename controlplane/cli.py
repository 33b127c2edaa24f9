"""nvectl: drive a running NVE controller over gRPC, start one, or make a test PKI.

    nvectl serve --config FILE [--insecure]
    nvectl vm associate VM_ID --vni 5001 --mac 52:54:00:12:34:56 --nve nve1 --port 1
    nvectl vm immigrate --associate VM_ID ...      nvectl vm suspend|resume|emigrate|terminate VM_ID
    nvectl vm set-vid VM_ID 120                    nvectl migrate VM_ID --to nve2
    nvectl show vms|vns|ports                      nvectl show tables [TABLE] --nve nve1
    nvectl show counters --nve nve1                nvectl notifications
    nvectl pki init DIR --hypervisor hv1 --operator admin

It reaches the controller only through its gRPC services, as a hypervisor agent (vm ...,
notifications) or an operator (show, migrate, vm set-vid) would. Mutual TLS with --ca, --cert and
--key (or NVE_CA, NVE_CERT, NVE_KEY); a lab controller started with --insecure takes --insecure
and the hypervisor name with --as.

Exit status: 0 done; 1 the controller answered FAIL or refused the call; 2 bad usage or an
unreadable TLS file; 3 the controller could not be reached or did not answer in time.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TypeVar

import grpc

from controlplane import artifacts as app_defaults
from controlplane import cli_output as out
from controlplane.errors import NveError
from controlplane.lifecycle import Event
from controlplane.signalling.grpc_client import DEFAULT_TIMEOUT, NveClient
from controlplane.signalling.messages import (
    Answer,
    SignallingError,
    VmRefRequest,
    VmRequest,
    VnSelector,
    check_vid,
    check_vni,
    parse_ipv4,
    parse_ipv6,
    parse_mac,
    parse_vm_id,
)
from controlplane.signalling.tls import TlsError, TlsMaterial

EXIT_OK = 0
EXIT_FAIL = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3
EXIT_INTERRUPTED = 130
DEFAULT_SERVER = "127.0.0.1:50051"

T = TypeVar("T")
Remote = Callable[[NveClient, argparse.Namespace], Awaitable[int]]
Local = Callable[[argparse.Namespace], int]

VM_REF_COMMANDS = {
    "suspend": Event.SUSPEND,
    "resume": Event.RESUME,
    "emigrate": Event.EMIGRATE,
    "terminate": Event.TERMINATE,
    "keepalive": Event.KEEPALIVE,
}


def _error(message: str) -> None:
    """One line on stderr."""
    print(f"nvectl: {message}", file=sys.stderr)


# -- argument types ----------------------------------------------------------------------------


def _checked(parse: Callable[[str], T]) -> Callable[[str], T]:
    """An argparse type from a parser that raises SignallingError (shown as a usage error)."""

    def convert(text: str) -> T:
        try:
            return parse(text)
        except SignallingError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    return convert


def _number(text: str) -> int:
    """A non-negative decimal integer."""
    if not text.isdigit():
        raise SignallingError(f"{text!r} is not a non-negative number")
    return int(text)


VM_ID = _checked(parse_vm_id)
MAC = _checked(parse_mac)
IPV4 = _checked(parse_ipv4)
IPV6 = _checked(parse_ipv6)
VNI = _checked(lambda text: check_vni(_number(text)))
VID = _checked(lambda text: check_vid(_number(text)))
NUMBER = _checked(_number)


# -- remote commands ---------------------------------------------------------------------------


def _show_answer(answer: Answer, as_json: bool) -> int:
    """Print an answer; a FAIL also goes to stderr with its reason and detail, and exits 1."""
    print(out.to_json(out.answer_fields(answer)) if as_json else out.answer_table(answer))
    if answer.reason is None:
        return EXIT_OK
    _error(f"FAIL ({answer.reason.value}): {answer.detail}")
    return EXIT_FAIL


async def _vm_request(client: NveClient, args: argparse.Namespace) -> int:
    """pre-associate, associate, immigrate: a request with the VM's network properties."""
    request = VmRequest(
        event=args.event,
        vm_id=args.vm_id,
        vn=VnSelector(vni=args.vni, name=args.vn),
        macs=tuple(args.mac),
        ipv4=tuple(args.ipv4),
        ipv6=tuple(args.ipv6),
        nve=args.nve,
        port=args.port,
        requested_vid=args.vid,
        vm_class=args.vm_class,
        reserve_resources=args.reserve,
    )
    return _show_answer(await client.signal(request), args.json)


async def _vm_ref(client: NveClient, args: argparse.Namespace) -> int:
    """suspend, resume, emigrate, terminate, keepalive."""
    answer = await client.signal(VmRefRequest(event=args.event, vm_id=args.vm_id))
    return _show_answer(answer, args.json)


async def _set_vid(client: NveClient, args: argparse.Namespace) -> int:
    """vm set-vid (operator)."""
    return _show_answer(await client.set_vid(args.vm_id, args.vid), args.json)


async def _migrate(client: NveClient, args: argparse.Namespace) -> int:
    """migrate (operator)."""
    return _show_answer(await client.migrate(args.vm_id, args.to, args.port), args.json)


async def _show_vms(client: NveClient, args: argparse.Namespace) -> int:
    """show vms."""
    views = await client.list_vms()
    print(out.views_json(views) if args.json else out.view_table(views, out.VM_COLUMNS))
    return EXIT_OK


async def _show_vns(client: NveClient, args: argparse.Namespace) -> int:
    """show vns."""
    views = await client.list_vns()
    print(out.views_json(views) if args.json else out.view_table(views, out.VN_COLUMNS))
    return EXIT_OK


async def _show_ports(client: NveClient, args: argparse.Namespace) -> int:
    """show ports."""
    views = await client.list_ports()
    print(out.views_json(views) if args.json else out.view_table(views, out.PORT_COLUMNS))
    return EXIT_OK


async def _show_tables(client: NveClient, args: argparse.Namespace) -> int:
    """show tables [TABLE] --nve NAME."""
    view = await client.read_tables(args.nve, args.table)
    print(out.tables_json(view) if args.json else out.tables_text(view))
    return EXIT_OK


async def _show_counters(client: NveClient, args: argparse.Namespace) -> int:
    """show counters --nve NAME."""
    views = await client.read_counters(args.nve)
    print(out.views_json(views) if args.json else out.view_table(views, out.COUNTER_COLUMNS))
    return EXIT_OK


async def _notifications(client: NveClient, args: argparse.Namespace) -> int:
    """Print the caller's notifications as they arrive (JSON Lines with --json)."""
    if not args.json:
        print(out.NOTIFICATION_HEADER, flush=True)
    async for notification in client.notifications():
        line = (
            out.notification_json(notification)
            if args.json
            else out.notification_line(notification)
        )
        print(line, flush=True)
    return EXIT_OK


def _tls(parser: argparse.ArgumentParser, args: argparse.Namespace) -> TlsMaterial | None:
    """None with --insecure; otherwise the three PEM files (a usage error when one is missing)."""
    if args.insecure:
        return None
    if not (args.ca and args.cert and args.key):
        parser.error(
            "mutual TLS needs --ca, --cert and --key (or NVE_CA, NVE_CERT, NVE_KEY); "
            "a lab controller without TLS takes --insecure [--as HYPERVISOR]"
        )
    return TlsMaterial.from_files(args.ca, args.cert, args.key)


async def _call(args: argparse.Namespace, tls: TlsMaterial | None) -> int:
    """Run the command's coroutine on a fresh client."""
    async with NveClient(args.server, tls, args.identity, args.timeout) as client:
        remote: Remote = args.remote
        return await remote(client, args)


def _run_remote(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    """Connect, run, and turn transport errors into messages and exit statuses."""
    tls = _tls(parser, args)
    try:
        return asyncio.run(_call(args, tls))
    except grpc.aio.AioRpcError as error:
        code = error.code()
        if code is grpc.StatusCode.UNAVAILABLE:
            _error(f"cannot reach the controller at {args.server}: {error.details()}")
            return EXIT_UNREACHABLE
        if code is grpc.StatusCode.DEADLINE_EXCEEDED:
            _error(f"the controller at {args.server} did not answer within {args.timeout:g} s")
            return EXIT_UNREACHABLE
        _error(f"{code.name.lower().replace('_', ' ')}: {error.details()}")
        return EXIT_FAIL
    except SignallingError as error:
        _error(f"malformed answer from the controller: {error}")
        return EXIT_FAIL


# -- local commands ----------------------------------------------------------------------------


def _serve(args: argparse.Namespace) -> int:
    """Run the controller in this process until SIGINT or SIGTERM."""
    from controlplane import app  # noqa: PLC0415 - the controller is needed only to serve

    app.main(args.config, insecure=args.insecure, p4info=Path(args.p4info),
             device_config=Path(args.device_config))
    return EXIT_OK


def _pki_init(args: argparse.Namespace) -> int:
    """Write a test CA and certificates; print the files written."""
    from controlplane.pki import init_pki  # noqa: PLC0415 - needs the cryptography package

    paths = init_pki(
        Path(args.directory), args.hypervisor, args.operator, args.server_name or ["localhost"]
    )
    for path in paths:
        print(path)
    return EXIT_OK


# -- the parser --------------------------------------------------------------------------------


def _client_options() -> argparse.ArgumentParser:
    """Options of every command that talks to the controller."""
    env = os.environ
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("connection")
    group.add_argument(
        "--server",
        metavar="HOST:PORT",
        default=env.get("NVE_SERVER", DEFAULT_SERVER),
        help="the controller (env NVE_SERVER; default %(default)s)",
    )
    group.add_argument("--ca", default=env.get("NVE_CA"), help="CA certificate PEM (env NVE_CA)")
    group.add_argument(
        "--cert",
        default=env.get("NVE_CERT"),
        help="client certificate PEM (env NVE_CERT); its CN is who you are",
    )
    group.add_argument("--key", default=env.get("NVE_KEY"), help="client key PEM (env NVE_KEY)")
    group.add_argument(
        "--insecure",
        action="store_true",
        help="no TLS, for a lab controller started with --insecure",
    )
    group.add_argument(
        "--as",
        dest="identity",
        metavar="HYPERVISOR",
        help="with --insecure: the hypervisor identity to claim",
    )
    group.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help="per request (default %(default)s)",
    )
    parent.add_argument("--json", action="store_true", help="JSON output for scripts")
    return parent


def _vm_properties(parser: argparse.ArgumentParser) -> None:
    """The VM's network properties: VN, addresses, attachment, VID, class, reservation."""
    parser.add_argument("vm_id", metavar="VM_ID", type=VM_ID, help="the VM's UUID")
    vn = parser.add_mutually_exclusive_group(required=True)
    vn.add_argument("--vni", type=VNI, help="the VN by VNI")
    vn.add_argument("--vn", metavar="NAME", help="the VN by name")
    parser.add_argument(
        "--mac",
        type=MAC,
        action="append",
        required=True,
        help="a MAC of the VM (repeat for several)",
    )
    parser.add_argument("--ipv4", type=IPV4, action="append", default=[], help="(repeatable)")
    parser.add_argument("--ipv6", type=IPV6, action="append", default=[], help="(repeatable)")
    parser.add_argument("--nve", required=True, help="the NVE switch the VM attaches to")
    parser.add_argument("--port", type=NUMBER, required=True, help="its access port")
    parser.add_argument("--vid", type=VID, default=0, help="requested VID (default: NVE picks)")
    parser.add_argument(
        "--class",
        dest="vm_class",
        default="",
        metavar="NAME",
        help="the VM class that selects its PCP",
    )
    parser.add_argument("--reserve", action="store_true", help="reserve resources (pre-associate)")


def _add_vm_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], client: argparse.ArgumentParser
) -> None:
    """nvectl vm ...: signal as a hypervisor agent (and set-vid, an operator command)."""
    vm = commands.add_parser("vm", help="signal VM lifecycle events as a hypervisor")
    actions = vm.add_subparsers(dest="action", required=True, metavar="ACTION")
    for name, event in (("pre-associate", Event.PRE_ASSOCIATE), ("associate", Event.ASSOCIATE)):
        parser = actions.add_parser(name, parents=[client], help=f"{event.value} a VM")
        _vm_properties(parser)
        parser.set_defaults(remote=_vm_request, event=event)
    parser = actions.add_parser("immigrate", parents=[client], help="a VM arrives by migration")
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument(
        "--associate",
        dest="event",
        action="store_const",
        const=Event.IMMIGRATE_ASSOCIATE,
        help="Immigration(Asso)",
    )
    mode.add_argument(
        "--pre-associate",
        dest="event",
        action="store_const",
        const=Event.IMMIGRATE_PRE_ASSOCIATE,
        help="Immigration(Pre-Asso)",
    )
    _vm_properties(parser)
    parser.set_defaults(remote=_vm_request)
    for name, event in VM_REF_COMMANDS.items():
        parser = actions.add_parser(name, parents=[client], help=f"{event.value} a VM")
        parser.add_argument("vm_id", metavar="VM_ID", type=VM_ID)
        parser.set_defaults(remote=_vm_ref, event=event)
    parser = actions.add_parser("set-vid", parents=[client], help="operator: give a VM another VID")
    parser.add_argument("vm_id", metavar="VM_ID", type=VM_ID)
    parser.add_argument("vid", metavar="VID", type=VID, help="0: any free VID")
    parser.set_defaults(remote=_set_vid)


def _add_show_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], client: argparse.ArgumentParser
) -> None:
    """nvectl show ...: operator inspection."""
    show = commands.add_parser("show", help="operator: inspect the controller and its switches")
    what = show.add_subparsers(dest="what", required=True, metavar="WHAT")
    what.add_parser("vms", parents=[client], help="every VM").set_defaults(remote=_show_vms)
    what.add_parser("vns", parents=[client], help="every VN").set_defaults(remote=_show_vns)
    what.add_parser("ports", parents=[client], help="every port").set_defaults(remote=_show_ports)
    parser = what.add_parser("tables", parents=[client], help="a switch's installed entries")
    parser.add_argument("table", nargs="?", metavar="TABLE", help="one table (default: all)")
    parser.add_argument("--nve", required=True, help="the switch")
    parser.set_defaults(remote=_show_tables)
    parser = what.add_parser("counters", parents=[client], help="a switch's counters")
    parser.add_argument("--nve", required=True, help="the switch")
    parser.set_defaults(remote=_show_counters)


def build_parser() -> argparse.ArgumentParser:
    """The nvectl command line."""
    parser = argparse.ArgumentParser(
        prog="nvectl",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        epilog="Exit status: 0 done, 1 FAIL or refused, 2 usage, 3 controller unreachable.",
    )
    parser.set_defaults(remote=None, local=None)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    client = _client_options()

    serve = commands.add_parser("serve", help="run the controller")
    serve.add_argument("--config", required=True, help="the controller's TOML configuration")
    serve.add_argument("--insecure", action="store_true", help="no TLS (labs only)")
    serve.add_argument("--p4info", default=str(app_defaults.P4INFO),
                       help="the pipeline's P4Info (default: the committed bmv2 build)")
    serve.add_argument("--device-config", default=str(app_defaults.BMV2_JSON),
                       help="the target's device config: bmv2 JSON, or a Tofino device_config.pb.bin")
    serve.set_defaults(local=_serve)

    _add_vm_commands(commands, client)

    migrate = commands.add_parser("migrate", parents=[client], help="operator: live-migrate a VM")
    migrate.add_argument("vm_id", metavar="VM_ID", type=VM_ID)
    migrate.add_argument("--to", required=True, metavar="NVE", help="the destination switch")
    migrate.add_argument("--port", type=NUMBER, default=0, help="(default: the controller picks)")
    migrate.set_defaults(remote=_migrate)

    _add_show_commands(commands, client)

    notifications = commands.add_parser(
        "notifications", parents=[client], help="print the NVE's notifications as they arrive"
    )
    notifications.set_defaults(remote=_notifications)

    pki = commands.add_parser("pki", help="a test CA and certificates for mutual TLS")
    pki_commands = pki.add_subparsers(dest="pki_command", required=True, metavar="ACTION")
    init = pki_commands.add_parser("init", help="write ca.pem, server.pem/key, NAME.pem/key")
    init.add_argument("directory", metavar="DIR")
    init.add_argument("--hypervisor", action="append", default=[], help="(repeatable)")
    init.add_argument("--operator", action="append", default=[], help="(repeatable)")
    init.add_argument(
        "--server-name",
        action="append",
        help="DNS name or address of the controller (repeatable; default localhost)",
    )
    init.set_defaults(local=_pki_init)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line and run the command; the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.remote is not None:
            return _run_remote(parser, args)
        local: Local = args.local
        return local(args)
    except TlsError as error:
        _error(str(error))
        return EXIT_USAGE
    except NveError as error:
        _error(str(error))
        return EXIT_FAIL
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
