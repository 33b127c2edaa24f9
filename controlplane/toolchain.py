"""Finding the P4 toolchain (p4c, bmv2) and hashing sources, for the build tools and the test runners.

p4c and bmv2 come from no package registry: they are looked up on PATH, then under
$P4_TOOLCHAIN_PREFIX (default /opt/p4-toolchain), where ../shared/tools/build-p4-toolchain installs them.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
from collections.abc import Iterable
from pathlib import Path

DEFAULT_PREFIX = "/opt/p4-toolchain"


def toolchain_prefix() -> Path:
    """Where the toolchain is installed when it is not on PATH."""
    return Path(os.environ.get("P4_TOOLCHAIN_PREFIX", DEFAULT_PREFIX))


def find_tool(name: str) -> str | None:
    """A toolchain binary from PATH or the install prefix; None when neither has it."""
    found = shutil.which(name)
    if found:
        return found
    candidate = toolchain_prefix() / "bin" / name
    return str(candidate) if candidate.is_file() else None


def files_hash(paths: Iterable[Path]) -> str:
    """sha256 over each file's relative path and content, in the order given."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def free_port(kind: socket.SocketKind = socket.SOCK_STREAM) -> int:
    """An unused TCP (or UDP) port on loopback."""
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
