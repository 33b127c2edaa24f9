"""A test PKI for mutual TLS: one CA, the controller's server certificate, client certificates.

`nvectl pki init DIR` writes `ca.pem`, `server.pem`, `server.key` and `<name>.pem`, `<name>.key`
for each hypervisor and operator. Keys are ECDSA P-256, written 0600. The server certificate's
subject alternative names are the given server names plus 127.0.0.1; a client certificate's
subject common name is the caller's identity (hypervisor or operator name). This is for labs and
tests: production deployments use their own CA.
"""

from __future__ import annotations

import datetime
import ipaddress
import logging
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from controlplane.errors import NveError

log = logging.getLogger(__name__)

CA_DAYS = 3650
LEAF_DAYS = 825
CLOCK_SKEW = datetime.timedelta(minutes=5)
LOOPBACK = "127.0.0.1"
RESERVED_NAMES = frozenset({"ca", "server"})
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


class PkiError(NveError):
    """A name cannot become a certificate file, or a file already exists."""


@dataclass(frozen=True, slots=True)
class Issued:
    """A certificate and its private key."""

    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    def cert_pem(self) -> bytes:
        """The certificate in PEM."""
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def key_pem(self) -> bytes:
        """The private key in unencrypted PKCS#8 PEM."""
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _builder(
    subject: str, key: ec.EllipticCurvePrivateKey, now: datetime.datetime, days: int
) -> x509.CertificateBuilder:
    """Subject, public key, serial, validity and subject key identifier."""
    return (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )


def _key_usage(*, signing_certs: bool) -> x509.KeyUsage:
    """digitalSignature, plus keyCertSign and cRLSign for a CA."""
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=signing_certs,
        crl_sign=signing_certs,
        encipher_only=False,
        decipher_only=False,
    )


def make_ca(common_name: str, now: datetime.datetime) -> Issued:
    """A self-signed CA that signs leaf certificates only (path length 0)."""
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        _builder(common_name, key, now, CA_DAYS)
        .issuer_name(_name(common_name))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(signing_certs=True), critical=True)
        .sign(key, hashes.SHA256())
    )
    return Issued(cert, key)


def _issue(
    ca: Issued,
    common_name: str,
    usage: x509.ObjectIdentifier,
    now: datetime.datetime,
    alt_names: Sequence[x509.GeneralName] = (),
) -> Issued:
    """A leaf certificate signed by `ca` for one extended key usage."""
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        _builder(common_name, key, now, LEAF_DAYS)
        .issuer_name(ca.cert.subject)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(signing_certs=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False
        )
    )
    if alt_names:
        builder = builder.add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
    return Issued(builder.sign(ca.key, hashes.SHA256()), key)


def _alt_name(name: str) -> x509.GeneralName:
    """An IP address SAN for an address, a DNS SAN otherwise."""
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def issue_server(ca: Issued, server_names: Sequence[str], now: datetime.datetime) -> Issued:
    """The controller's certificate: CN the first name; SANs every name plus 127.0.0.1."""
    names = list(dict.fromkeys([*server_names, LOOPBACK]))
    return _issue(ca, names[0], ExtendedKeyUsageOID.SERVER_AUTH, now, [_alt_name(n) for n in names])


def issue_client(ca: Issued, common_name: str, now: datetime.datetime) -> Issued:
    """A hypervisor's or operator's certificate; its CN is the caller's identity."""
    return _issue(ca, common_name, ExtendedKeyUsageOID.CLIENT_AUTH, now)


def _check_client_names(names: Iterable[str]) -> list[str]:
    """The distinct names, each usable as a file name and a CN; PkiError otherwise."""
    distinct = list(dict.fromkeys(names))
    for name in distinct:
        if not _NAME.fullmatch(name):
            raise PkiError(f"{name!r} is not a usable name: letters, digits, '.', '_', '-' only")
        if name in RESERVED_NAMES:
            raise PkiError(f"{name!r} is reserved for the {name} certificate")
    return distinct


def _write_new(path: Path, data: bytes, mode: int) -> None:
    """Create `path` with exactly `mode` (whatever the umask); never overwrite."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    os.fchmod(descriptor, mode)
    with os.fdopen(descriptor, "wb") as file:
        file.write(data)


def init_pki(
    directory: Path,
    hypervisors: Sequence[str],
    operators: Sequence[str],
    server_names: Sequence[str],
    now: datetime.datetime | None = None,
) -> list[Path]:
    """Write a CA, a server certificate and one client certificate per name; the files written.

    PkiError when a name is unusable or any of the files exists already (nothing is written).
    """
    if not server_names:
        raise PkiError("at least one server name is needed")
    clients = _check_client_names([*hypervisors, *operators])
    moment = now or datetime.datetime.now(datetime.UTC)
    ca = make_ca("NVE test CA", moment)
    issued = {"server": issue_server(ca, server_names, moment)}
    issued |= {name: issue_client(ca, name, moment) for name in clients}
    files: dict[Path, tuple[bytes, int]] = {directory / "ca.pem": (ca.cert_pem(), 0o644)}
    for name, leaf in issued.items():
        files[directory / f"{name}.pem"] = (leaf.cert_pem(), 0o644)
        files[directory / f"{name}.key"] = (leaf.key_pem(), 0o600)
    existing = [str(path) for path in files if path.exists()]
    if existing:
        raise PkiError(f"refusing to overwrite {', '.join(existing)}")
    directory.mkdir(parents=True, exist_ok=True)
    for path, (data, mode) in files.items():
        _write_new(path, data, mode)
    log.info("test PKI in %s: server %s, clients %s", directory, list(server_names), clients)
    return list(files)
