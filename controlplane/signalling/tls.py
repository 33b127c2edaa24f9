"""PEM material for mutual TLS between the controller and its clients, as gRPC credentials.

Both sides trust one CA: the controller accepts only clients whose certificate that CA signed
(and takes the certificate's common name as the caller's identity); clients accept only a
controller certificate from it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import grpc

from controlplane.errors import NveError

log = logging.getLogger(__name__)


class TlsError(NveError):
    """A certificate, key or CA file could not be read."""


def _read(path: str | Path, what: str) -> bytes:
    """The bytes of a PEM file; TlsError naming the file and its role."""
    try:
        return Path(path).read_bytes()
    except OSError as error:
        raise TlsError(f"cannot read the {what} {path}: {error.strerror}") from None


@dataclass(frozen=True, slots=True)
class TlsMaterial:
    """PEM bytes: the CA that signs every peer, and this side's certificate chain and key."""

    ca: bytes
    cert: bytes
    key: bytes

    @classmethod
    def from_files(cls, ca: str | Path, cert: str | Path, key: str | Path) -> TlsMaterial:
        """Read the three PEM files; TlsError names a file that cannot be read."""
        material = cls(_read(ca, "CA certificate"), _read(cert, "certificate"), _read(key, "key"))
        log.debug("TLS material: CA %s, certificate %s, key %s", ca, cert, key)
        return material

    def server_credentials(self) -> grpc.ServerCredentials:
        """Server side: present our certificate and require a client certificate from the CA."""
        return grpc.ssl_server_credentials(
            [(self.key, self.cert)], root_certificates=self.ca, require_client_auth=True
        )

    def channel_credentials(self) -> grpc.ChannelCredentials:
        """Client side: trust only the CA and present our certificate."""
        return grpc.ssl_channel_credentials(
            root_certificates=self.ca, private_key=self.key, certificate_chain=self.cert
        )
