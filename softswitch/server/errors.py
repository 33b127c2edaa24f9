"""P4Runtime errors: canonical codes, per-update ``p4.v1.Error`` details, gRPC status."""

from __future__ import annotations

from collections.abc import Sequence

import grpc
from finsy.proto import p4r, rpc_code, rpc_status

Code = rpc_code.Code
"""``google.rpc.Code`` enum values (``Code.INVALID_ARGUMENT`` ...)."""

_GRPC_CODES = {status.value[0]: status for status in grpc.StatusCode}
_STATUS_DETAILS_KEY = "grpc-status-details-bin"


class P4RuntimeError(Exception):
    """An error reported to the client with a canonical ``google.rpc.Code``."""

    def __init__(self, code: int, message: str) -> None:
        """Create an error with ``code`` (a ``Code`` value) and a developer-facing message."""
        super().__init__(message)
        self.code = code
        self.message = message

    @property
    def grpc_code(self) -> grpc.StatusCode:
        """The error code as ``grpc.StatusCode``."""
        return grpc_status_code(self.code)

    def to_p4_error(self) -> p4r.Error:
        """The error as a ``p4.v1.Error`` detail."""
        return p4r.Error(canonical_code=self.code, message=self.message)


def grpc_status_code(code: int) -> grpc.StatusCode:
    """Convert a ``google.rpc.Code`` value to ``grpc.StatusCode``."""
    return _GRPC_CODES.get(code, grpc.StatusCode.UNKNOWN)


def batch_status_metadata(
    message: str, results: Sequence[P4RuntimeError | None]
) -> tuple[tuple[str, bytes], ...]:
    """Trailing metadata carrying an UNKNOWN ``google.rpc.Status`` with one detail per item.

    ``results`` has one element per update (or read request): None for success.
    """
    status = rpc_status.Status(code=Code.UNKNOWN, message=message)
    for result in results:
        error = p4r.Error(canonical_code=Code.OK) if result is None else result.to_p4_error()
        status.details.add().Pack(error)
    return ((_STATUS_DETAILS_KEY, status.SerializeToString()),)
