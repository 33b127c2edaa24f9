"""Where the compiled pipeline the controller pushes by default lives (committed under p4src/build)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
P4INFO = ROOT / "p4src" / "build" / "nve.p4info.txtpb"
BMV2_JSON = ROOT / "p4src" / "build" / "nve.json"
