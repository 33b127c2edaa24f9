"""Command line of the software switch, modelled on ``simple_switch_grpc``.

softswitch -i 1@veth0 -i 2@udp:20002:30002 --cpu-port 255 --no-p4
softswitch -i 1@veth0 --device-id 0 --grpc-server-addr 127.0.0.1:9559 prog.json
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from softswitch.ports import PORT_SYNTAX, PortSpec, PortSpecError, open_ports, parse_port_spec
from softswitch.server import DEFAULT_GRPC_ADDR, SoftSwitch
from softswitch.server.errors import P4RuntimeError

LOGGER = logging.getLogger(__name__)

LOG_LEVELS = {
    "trace": logging.DEBUG,
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
    "off": logging.CRITICAL + 10,
}


def _port_spec(text: str) -> PortSpec:
    try:
        return parse_port_spec(text)
    except PortSpecError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (its ``--help`` documents the port syntax)."""
    parser = argparse.ArgumentParser(
        prog="softswitch",
        description="Embedded P4 software switch (v1model bmv2 JSON) with a P4Runtime server.",
        epilog=PORT_SYNTAX,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "-i",
        "--interface",
        metavar="PORT@IFACE",
        dest="ports",
        action="append",
        type=_port_spec,
        default=[],
        help="bind a switch port to an interface or UDP socket (repeatable; syntax below)",
    )
    parser.add_argument("--device-id", type=int, default=0, help="P4Runtime device id (default 0)")
    parser.add_argument(
        "--cpu-port", type=int, default=None, help="port of packet-in/packet-out (default: none)"
    )
    parser.add_argument(
        "--grpc-server-addr",
        metavar="HOST:PORT",
        default=DEFAULT_GRPC_ADDR,
        help=f"P4Runtime server address (default {DEFAULT_GRPC_ADDR})",
    )
    parser.add_argument(
        "--log-level",
        choices=list(LOG_LEVELS),
        default="info",
        help="logging level (default info)",
    )
    program = parser.add_mutually_exclusive_group(required=True)
    program.add_argument(
        "json",
        nargs="?",
        type=Path,
        help="bmv2 JSON to forward with at start (P4Info must still be pushed over P4Runtime)",
    )
    program.add_argument(
        "--no-p4", action="store_true", help="start without a program; wait for P4Runtime"
    )
    return parser


async def run(args: argparse.Namespace) -> None:
    """Run the switch until SIGINT or SIGTERM."""
    program = args.json.read_bytes() if args.json is not None else None
    ports = open_ports(args.ports)
    switch = SoftSwitch(
        ports=ports,
        device_id=args.device_id,
        cpu_port=args.cpu_port,
        grpc_addr=args.grpc_server_addr,
        program=program,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await switch.start()
        await stop.wait()
        LOGGER.info("shutting down")
    finally:
        await switch.stop()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``softswitch`` console command."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=LOG_LEVELS[args.log_level],
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    numbers = [spec.number for spec in args.ports]
    if len(set(numbers)) != len(numbers):
        parser.error("a port number is used twice")
    if args.cpu_port is not None and args.cpu_port in numbers:
        parser.error(f"--cpu-port {args.cpu_port} is also given with -i")
    try:
        asyncio.run(run(args))
    except (OSError, P4RuntimeError) as exc:
        LOGGER.error("%s", exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
