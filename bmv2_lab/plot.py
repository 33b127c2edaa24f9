"""The migration picture: probe packets received per millisecond, with the signalling marked.

Top: the whole probe, every signalling step as a dashed line. Bottom: the switch-over up close,
with the loss window shaded.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from bmv2_lab.probe import ProbeResult

COLORS = ["#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f"]
ZOOM_MARGIN_MS = 40.0


def migration_png(result: ProbeResult, marks: Sequence[tuple[str, float]], path: Path,
                  title: str) -> Path:
    """Write the PNG: `marks` are (label, monotonic time) of the signalling steps."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    times, counts = result.per_ms()
    xs = [(when - result.start) * 1000 for _, when in marks]
    first, missing = result.longest_gap()
    # The probe packets sent during this interval never arrived (the sending schedule is exact).
    gap_ms = (None if missing == 0
              else (first * result.period_ms, (first + missing) * result.period_ms))
    fig, (full, zoom) = plt.subplots(2, 1, figsize=(13, 8), dpi=100,
                                     gridspec_kw={"height_ratios": [1, 1.2]})
    span = int(result.sent * result.period_ms) + 20
    top = max(max(counts[:span], default=1), 1) + 1

    full.plot(times, counts, drawstyle="steps-post", color="#3b75af", linewidth=0.7)
    for index, ((label, _), x) in enumerate(zip(marks, xs)):
        full.axvline(x, color=COLORS[index % len(COLORS)], linestyle="--", linewidth=1.2,
                     label=f"t = {x:6.0f} ms  {label}")
    if gap_ms is not None:
        full.axvspan(*gap_ms, color="#d62728", alpha=0.3)
    full.set_xlim(0, span)
    full.set_ylim(0, top)
    full.set_title(title)
    full.set_xlabel("time since the probe started (ms)")
    full.set_ylabel("packets received per ms")
    full.legend(loc="upper right", fontsize=8, title=f"signalling ({result.rate} packets/s sent)",
                title_fontsize=8)

    # The switch-over up close: from a little before the first mark near the gap to after it.
    centre = gap_ms if gap_ms is not None else (xs[1], xs[1]) if len(xs) > 1 else (0.0, 0.0)
    low = max(0.0, centre[0] - ZOOM_MARGIN_MS)
    high = centre[1] + ZOOM_MARGIN_MS
    near = [x for x in xs if low - 30 <= x <= high + 30]
    low, high = min([low, *near]) - 5, max([high, *near]) + 5
    top = max(max(counts[max(0, int(low)):int(high) + 1], default=1), 1) + 1.5
    zoom.bar(times, counts, width=1.0, align="edge", color="#3b75af", linewidth=0.3,
             edgecolor="white", label="probe packets received in that ms")
    if gap_ms is not None:
        zoom.axvspan(*gap_ms, color="#d62728", alpha=0.2,
                     label=f"loss window: the {missing} packets sent here never arrived = "
                           f"{result.loss_window_ms:.0f} ms")
    shown = 0
    for index, ((label, _), x) in enumerate(zip(marks, xs)):
        if low <= x <= high:
            color = COLORS[index % len(COLORS)]
            zoom.axvline(x, color=color, linestyle="--", linewidth=1.5)
            zoom.text(x, top - 0.3 - 0.6 * (shown % 4), f" {label}", color=color, fontsize=9,
                      va="top", ha="left")
            shown += 1
    zoom.set_xlim(low, high)
    zoom.set_ylim(0, top)
    zoom.set_xlabel("time since the probe started (ms), around the switch-over")
    zoom.set_ylabel("packets received per ms")
    zoom.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
