"""Load tools/fuzz.py (tools/ is not a package) and run one surface for the bounded tests.

`make test` runs a bounded number of inputs per surface (about two minutes for all three on two
cores); NVE_FUZZ_TEST_EXAMPLES overrides the count. `make fuzz` runs tools/fuzz.py itself with
100,000 inputs per surface.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

TOOL = Path(__file__).resolve().parents[3] / "tools" / "fuzz.py"


def tool() -> ModuleType:
    """tools/fuzz.py as a module (loaded once)."""
    module = sys.modules.get("nve_fuzz_tool")
    if module is None:
        spec = importlib.util.spec_from_file_location("nve_fuzz_tool", TOOL)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules["nve_fuzz_tool"] = module
        spec.loader.exec_module(module)
    return module


def run(surface: str, examples: int) -> object:
    """Fuzz `surface` with `examples` inputs (or $NVE_FUZZ_TEST_EXAMPLES); its Stats, printed."""
    fuzz = tool()
    count = int(os.environ.get("NVE_FUZZ_TEST_EXAMPLES", examples))
    stats = fuzz.run_surface(fuzz.SURFACES[surface](), count)
    print(f"\n{stats.line()}" + (f"\n  {stats.note}" if stats.note else ""))
    assert stats.crashes == 0, f"{surface}: {stats.failure}"
    assert stats.inputs >= count
    return stats
