"""Parsing of ``-i PORT@IFACE`` port specifications."""

from __future__ import annotations

from dataclasses import dataclass

LOOPBACK = "127.0.0.1"

PORT_SYNTAX = """\
PORT@IFACE binds switch port PORT (an integer) to one of:
  IFACE                          a Linux interface, raw AF_PACKET socket (needs root),
                                 e.g. 1@veth0
  udp:LPORT                      UDP socket bound to 127.0.0.1:LPORT; each frame is one
                                 datagram; frames are sent back to the source address of
                                 the last datagram received (dropped until one arrives)
  udp:LPORT:PPORT                bound to 127.0.0.1:LPORT, sends to 127.0.0.1:PPORT
  udp:LHOST:LPORT[:PHOST]:PPORT  explicit IPv4 addresses for local and peer side
  e.g. -i 1@udp:20001:30001 -i 2@udp:20002:30002"""


class PortSpecError(ValueError):
    """A port specification that cannot be parsed."""


@dataclass(frozen=True, slots=True)
class RawSpec:
    """Switch port ``number`` on Linux interface ``interface`` (AF_PACKET)."""

    number: int
    interface: str


@dataclass(frozen=True, slots=True)
class UdpSpec:
    """Switch port ``number`` as a UDP socket bound to ``local``, sending to ``peer``.

    ``peer`` None means: reply to the source of the most recent datagram.
    """

    number: int
    local: tuple[str, int]
    peer: tuple[str, int] | None


PortSpec = RawSpec | UdpSpec


def parse_port_spec(text: str) -> PortSpec:
    """Parse ``PORT@IFACE`` (see ``PORT_SYNTAX``)."""
    number_text, sep, target = text.partition("@")
    if not sep or not target:
        raise PortSpecError(f"expected PORT@IFACE, got {text!r}")
    try:
        number = int(number_text)
    except ValueError:
        raise PortSpecError(f"port number must be an integer: {text!r}") from None
    if number < 0:
        raise PortSpecError(f"port number must be >= 0: {text!r}")
    if target.startswith("udp:"):
        local, peer = _parse_udp(target[4:], text)
        return UdpSpec(number, local, peer)
    return RawSpec(number, target)


def _parse_udp(text: str, spec: str) -> tuple[tuple[str, int], tuple[str, int] | None]:
    tokens = text.split(":")
    if not all(tokens):
        raise PortSpecError(f"bad UDP port specification {spec!r}")
    shape = "".join("p" if token.isdigit() else "h" for token in tokens)
    match shape:
        case "p":
            local, peer = (LOOPBACK, tokens[0]), None
        case "hp":
            local, peer = (tokens[0], tokens[1]), None
        case "pp":
            local, peer = (LOOPBACK, tokens[0]), (LOOPBACK, tokens[1])
        case "hpp":
            local, peer = (tokens[0], tokens[1]), (tokens[0], tokens[2])
        case "php":
            local, peer = (LOOPBACK, tokens[0]), (tokens[1], tokens[2])
        case "hphp":
            local, peer = (tokens[0], tokens[1]), (tokens[2], tokens[3])
        case _:
            raise PortSpecError(f"bad UDP port specification {spec!r}")
    local_addr = (local[0], _udp_port(local[1], spec))
    peer_addr = None if peer is None else (peer[0], _udp_port(peer[1], spec))
    return local_addr, peer_addr


def _udp_port(token: str, spec: str) -> int:
    value = int(token)
    if value > 65535:
        raise PortSpecError(f"UDP port out of range in {spec!r}")
    return value
