"""P4Runtime gRPC server of the software switch.

``SoftSwitch`` bundles the port backend, the packet loop (one worker thread around the
engine's synchronous ``process()``) and an asyncio gRPC P4Runtime server.
"""

from __future__ import annotations

from softswitch.server.runtime import DEFAULT_GRPC_ADDR, SoftSwitch

__all__ = ["DEFAULT_GRPC_ADDR", "SoftSwitch"]
