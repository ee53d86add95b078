"""PNG plots of measured figures (one per measured key): methods on x, one colour per environment.

Every record's value is a dot, so a method measured by several checks or parameters shows its
spread; NaN and infinities are drawn as crosses along the top edge, never dropped silently. Uses
matplotlib's object API with the Agg canvas (no pyplot state, no display), and writes no date into
the file, so the same runs give the same bytes.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence

from qconform.report import measured
from qconform.report.merge import Merged

DPI = 80  # near screen resolution: the page embeds every figure, and at 100 dpi they were a quarter of it
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2", "#7f7f7f")


def available() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def plot_files(merged: Merged) -> dict[str, tuple[str, bytes]]:
    """measured key -> (file name, PNG bytes); file names are safe and distinct."""
    found = measured.figures(merged.records)
    out: dict[str, tuple[str, bytes]] = {}
    taken: set[str] = set()
    for key in measured.keys(found):
        stem = measured.file_stem(key)
        name, n = f"measured-{stem}.png", 2
        while name in taken:
            name, n = f"measured-{stem}-{n}.png", n + 1
        taken.add(name)
        out[key] = (name, plot(key, [f for f in found if f.key == key], [c.name for c in merged.columns]))
    return out


def plot(key: str, figures: Sequence[measured.Figure], columns: Sequence[str]) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    targets = list(dict.fromkeys(f.target for f in figures))
    present = [c for c in columns if any(f.column == c for f in figures)]
    finite = [f.value for f in figures if math.isfinite(f.value)]
    width = min(30.0, max(7.5, 0.55 * len(targets) + 2.5))  # at least 600 pixels
    fig = Figure(figsize=(width, 5.4), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    log = bool(finite) and min(finite) > 0 and max(finite) / min(finite) > 50
    if log:
        ax.set_yscale("log")
    spread = 0.6 / max(1, len(present))
    for index, column in enumerate(present):
        offset = (index - (len(present) - 1) / 2) * spread
        colour = PALETTE[index % len(PALETTE)]
        xs = [targets.index(f.target) + offset for f in figures if f.column == column and math.isfinite(f.value)]
        ys = [f.value for f in figures if f.column == column and math.isfinite(f.value)]
        ax.scatter(xs, ys, s=22, color=colour, alpha=0.8, label=_short(column), zorder=3)
        bad = [targets.index(f.target) + offset for f in figures if f.column == column and not math.isfinite(f.value)]
        if bad:
            ax.scatter(
                bad,
                [1.0] * len(bad),
                marker="x",
                s=40,
                color=colour,
                transform=ax.get_xaxis_transform(),
                clip_on=False,
                zorder=4,
            )
    if any(not math.isfinite(f.value) for f in figures):
        ax.scatter([], [], marker="x", color="#444", label="NaN or infinite (top edge)")
    ax.set_xticks(range(len(targets)), [_short(t, 28) for t in targets], rotation=45, ha="right", fontsize=8)
    ax.set_xlim(-0.7, len(targets) - 0.3)
    ax.set_ylabel(_short(key, 60) + (" (log scale)" if log else ""))
    ax.set_title(f"{_short(key, 60)} per method and environment", fontsize=11)
    ax.grid(axis="y", alpha=0.3, which="both" if log else "major")
    if present:
        fig.legend(fontsize=8, loc="outside lower center", ncols=2, frameon=False)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def _short(text: str, limit: int = 48) -> str:
    # matplotlib reads $...$ as mathtext; a run's text is shown as it is
    text = text.replace("$", r"\$")
    return text if len(text) <= limit else text[: limit - 1] + "…"
