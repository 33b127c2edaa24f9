"""controlplane.pki and `nvectl pki init`: a test CA, server and client certificates."""

from __future__ import annotations

import ipaddress
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from controlplane.cli import main
from controlplane.pki import PkiError, init_pki


def _cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def _cn(cert: x509.Certificate) -> str:
    return str(cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("pki") / "certs"
    init_pki(directory, ["hv1", "hv2"], ["admin", "hv1"], ["localhost"])
    return directory


def test_files_and_modes(pki: Path) -> None:
    names = {"ca.pem", "server.pem", "server.key"} | {
        f"{n}.{e}" for n in ("hv1", "hv2", "admin") for e in ("pem", "key")
    }
    assert {p.name for p in pki.iterdir()} == names
    for path in pki.iterdir():
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o600 if path.suffix == ".key" else 0o644), path


def test_ca_is_a_ca(pki: Path) -> None:
    ca = _cert(pki / "ca.pem")
    constraints = ca.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert constraints.ca and constraints.path_length == 0
    assert ca.subject == ca.issuer


def test_server_certificate(pki: Path) -> None:
    ca, server = _cert(pki / "ca.pem"), _cert(pki / "server.pem")
    server.verify_directly_issued_by(ca)
    san = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
    usage = server.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert _cn(server) == "localhost"


@pytest.mark.parametrize("name", ["hv1", "hv2", "admin"])
def test_client_certificates(pki: Path, name: str) -> None:
    ca, cert = _cert(pki / "ca.pem"), _cert(pki / f"{name}.pem")
    cert.verify_directly_issued_by(ca)
    assert _cn(cert) == name
    usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    key = load_pem_private_key((pki / f"{name}.key").read_bytes(), password=None)
    assert key.public_key() == cert.public_key()


def test_refuses_to_overwrite_and_writes_nothing(pki: Path) -> None:
    before = sorted(pki.iterdir())
    with pytest.raises(PkiError, match=r"refusing to overwrite .*ca\.pem"):
        init_pki(pki, ["hv3"], [], ["localhost"])
    assert sorted(pki.iterdir()) == before


@pytest.mark.parametrize(
    ("name", "match"),
    [
        ("server", "reserved"),
        ("ca", "reserved"),
        ("a/b", "not a usable name"),
        ("", "not a usable"),
    ],
)
def test_rejects_unusable_names(tmp_path: Path, name: str, match: str) -> None:
    with pytest.raises(PkiError, match=match):
        init_pki(tmp_path, [name], [], ["localhost"])
    assert list(tmp_path.iterdir()) == []


def test_server_names_and_addresses(tmp_path: Path) -> None:
    init_pki(tmp_path, [], ["admin"], ["nve.lab", "10.1.2.3", "127.0.0.1"])
    server = _cert(tmp_path / "server.pem")
    san = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["nve.lab"]
    assert san.get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address("10.1.2.3"),
        ipaddress.ip_address("127.0.0.1"),
    ]


def test_nvectl_pki_init(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["pki", "init", str(tmp_path / "p"), "--hypervisor", "hv1", "--operator", "admin"]
    assert main(argv) == 0
    written = capsys.readouterr().out.split()
    assert {Path(p).name for p in written} == {
        "ca.pem",
        "server.pem",
        "server.key",
        "hv1.pem",
        "hv1.key",
        "admin.pem",
        "admin.key",
    }
    san = _cert(tmp_path / "p" / "server.pem").extensions.get_extension_for_class(
        x509.SubjectAlternativeName
    )
    assert san.value.get_values_for_type(x509.DNSName) == ["localhost"]
    assert main(argv) == 1
    assert "refusing to overwrite" in capsys.readouterr().err
