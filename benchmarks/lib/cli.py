"""The command line every benchmark script shares, and how it ends."""

from __future__ import annotations

import argparse
import cProfile
import logging
import pstats
import sys
from pathlib import Path
from typing import Self

from benchmarks.lib.results import RESULTS, Outcome, describe_machine, emit
from benchmarks.lib.targets import TARGETS, check_target


def parser(doc: str) -> argparse.ArgumentParser:
    """--target, --quick, --no-csv, --results, --json-out, --profile."""
    first, _, rest = (doc or "").strip().partition("\n")
    p = argparse.ArgumentParser(description=first, epilog=rest.strip() or None,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--target", choices=TARGETS, default="embedded",
                   help="embedded: python -m softswitch; bmv2: simple_switch_grpc (root)")
    p.add_argument("--quick", action="store_true",
                   help="a few seconds' smoke run with small counts (figures not meaningful)")
    p.add_argument("--no-csv", action="store_true", help="do not append to the results file")
    p.add_argument("--results", type=Path, default=RESULTS, help="the CSV file to append to")
    p.add_argument("--json-out", type=Path, help="also write the outcome as JSON here")
    p.add_argument("--profile", type=Path, metavar="FILE",
                   help="cProfile the measured phase; stats to FILE (and the top to stdout)")
    return p


def start(args: argparse.Namespace, title: str) -> None:
    """Exit with a note when the target cannot run here; print the header."""
    check_target(args.target)
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    print(f"== {title} on {args.target} ({describe_machine()})"
          f"{' [quick]' if args.quick else ''}", flush=True)


def finish(args: argparse.Namespace, outcome: Outcome) -> int:
    """Print, record and return the exit status (0: it ran; goals are reported, not asserted)."""
    outcome.quick = args.quick
    emit(outcome, csv_path=None if args.no_csv else args.results, json_out=args.json_out)
    return 0


class Profiler:
    """`with Profiler(args.profile): ...` profiles the block when a file was given."""

    def __init__(self, path: Path | None, top: int = 25) -> None:
        self.path, self.top = path, top
        self.profile = cProfile.Profile() if path else None

    def __enter__(self) -> Self:
        if self.profile is not None:
            self.profile.enable()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.profile is None or self.path is None:
            return
        self.profile.disable()
        self.profile.dump_stats(str(self.path))
        print(f"\ncProfile of the measured phase (saved to {self.path}); top {self.top} by "
              "cumulative time, then by own time:")
        stats = pstats.Stats(self.profile, stream=sys.stdout).strip_dirs()
        stats.sort_stats("cumulative").print_stats(self.top)
        stats.sort_stats("tottime").print_stats(self.top)
