"""Markdown for CI job summaries and the committed ``reports/``: matrices, notes, failures, figures.

Text from run files is escaped: HTML special characters become entities and Markdown's own
punctuation becomes numeric references, so a record cannot add markup, links or table cells.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from qconform.report import measured
from qconform.report.matrix import PROBLEMS, Cell
from qconform.report.merge import Merged

SYMBOLS = {
    "passed": "✅",
    "partly": "🟡",
    "failed": "❌",
    "not_installed": "📦",
    "needs_network": "🌐",
    "unsupported": "⛔",
    "not_applicable": "⚪",
    "not_run": "—",
}
LEGEND = (
    "✅ every check that ran passed · 🟡 partly passed (passed/ran) · ❌ none passed · nothing ran, the note says "
    "why: 📦 not installed here · 🌐 needs the network · ⛔ not supported on this hardware (its refusal) · "
    "⚪ not applicable · — not run · (n known): declared known deviations (xfailed)"
)
_HTML = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}
_MARKDOWN = set("\\`*_{}[]|~#$!")  # could open markup in a GFM table cell or heading: backslash-escaped


def md(text: object, limit: int | None = 200) -> str:
    """One line of escaped text, cut to ``limit`` characters."""
    flat = " ".join(str(text).split())
    if limit is not None and len(flat) > limit:
        flat = flat[: limit - 1] + "…"
    out = []
    for i, c in enumerate(flat):
        if c in _HTML:
            out.append(_HTML[c])
        elif c == "_" and 0 < i < len(flat) - 1 and flat[i - 1].isalnum() and flat[i + 1].isalnum():
            out.append(c)  # inside a word an underscore never opens emphasis: keep names readable
        elif c in _MARKDOWN:
            out.append("\\" + c)
        else:
            out.append(c)
    return "".join(out)


class Notes:
    """Numbered footnotes for the reasons behind cells where nothing ran, shared by all tables."""

    def __init__(self) -> None:
        self.reasons: dict[str, int] = {}

    def number(self, reason: str) -> int:
        return self.reasons.setdefault(reason, len(self.reasons) + 1)

    def render(self) -> list[str]:
        if not self.reasons:
            return []
        lines = ["", "**Why nothing ran:**", ""]
        lines += [f"{n}. {md(reason, 400)}" for reason, n in self.reasons.items()]
        return lines


def cell_text(cell: Cell, notes: Notes) -> str:
    symbol = SYMBOLS[cell.state]
    if cell.state == "not_run":
        return symbol
    if cell.skipped_only:
        return f"{symbol} " + " ".join(f"[{notes.number(r)}]" for r in cell.reasons[:3])
    return f"{symbol} {cell.passed}/{cell.ran}{cell.note()}"


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    return [
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
        *("| " + " | ".join(row) + " |" for row in rows),
    ]


def render(
    merged: Merged,
    hardware: Mapping[str, Mapping[str, Cell]],
    compatibility: Mapping[str, Mapping[str, Mapping[str, Cell]]],
    plots: Mapping[str, str] | None = None,
    failures_limit: int = 50,
    sections: Sequence[Callable[[Notes], list[str]]] = (),
    after_hardware: Sequence[str] = (),
) -> str:
    """The whole report; ``after_hardware`` lines follow the hardware matrix (the capability matrix),
    ``sections`` add lines after the software table (given the shared footnotes)."""
    notes = Notes()
    columns = [c.name for c in merged.columns]
    newest = max((r.finished for r in merged.runs), default="-")
    lines = [
        "# qconform compatibility report",
        "",
        f"{len(merged.runs)} run(s), {len(merged.records)} records, {len(columns)} environment(s); "
        f"newest run finished {md(newest)}.",
        "",
        LEGEND,
        "",
        "## Hardware matrix",
        "",
        "Methods by environment, over every check family.",
        "",
    ]
    lines += hardware_table(merged, hardware, notes)
    lines += after_hardware
    lines += ["", "## Software per environment", ""]
    lines += software_table(merged)
    for section in sections:  # e.g. the release series (qconform.report.releases)
        lines += section(notes)
    for column, rows in compatibility.items():
        lines += ["", f"## Compatibility on {md(column)}", ""]
        lines += table(
            ["method", *(md(f) for f in merged.families)],
            [
                [md(key), *(cell_text(row[f], notes) for f in merged.families)]
                for key, row in rows.items()
                if any(cell.state != "not_run" for cell in row.values())
            ],
        )
    lines += notes.render()
    lines += figures_section(merged, plots or {})
    lines += failures_section(merged, failures_limit)
    return "\n".join(lines) + "\n"


def hardware_section(merged: Merged, hardware: Mapping[str, Mapping[str, Cell]]) -> str:
    """The hardware matrix with its legend and notes alone: the block a README shows."""
    notes = Notes()
    lines = [LEGEND, "", *hardware_table(merged, hardware, notes), *notes.render()]
    return "\n".join(lines) + "\n"


def hardware_table(merged: Merged, hardware: Mapping[str, Mapping[str, Cell]], notes: Notes) -> list[str]:
    columns = [c.name for c in merged.columns]
    origins = dict(merged.targets)
    return table(
        ["method", "origin", *(md(c) for c in columns)],
        [
            [md(key), md(origins.get(key) or "-"), *(cell_text(hardware[key][c], notes) for c in columns)]
            for key in hardware
        ],
    )


def software_table(merged: Merged) -> list[str]:
    columns = merged.columns
    head = ["python", "cpu", "torch_cuda"]
    packages = sorted({name for c in columns for name in c.environment.get("packages", {})})
    rows = []
    for name in head:
        rows.append([md(name), *(md(c.environment.get(name) or "-") for c in columns)])
    for name in packages:
        rows.append([md(name), *(md(c.environment.get("packages", {}).get(name) or "missing") for c in columns)])
    return table(["", *(md(c.name) for c in columns)], rows)


def figures_section(merged: Merged, plots: Mapping[str, str]) -> list[str]:
    found = measured.figures(merged.records)
    if not found:
        return []
    columns = [c.name for c in merged.columns]
    lines = ["", "## Measured figures", "", "Largest value per method and environment (n: records)."]
    for key in measured.keys(found):
        lines += ["", f"### {md(key)}", ""]
        if key in plots:
            lines += [f"![{md(key)} per method and environment]({plots[key]})", ""]
        of_key = [f for f in found if f.key == key]
        rows = []
        for target in dict.fromkeys(f.target for f in of_key):
            row = [md(target)]
            for column in columns:
                values = [f.value for f in of_key if f.target == target and f.column == column]
                row.append(f"{measured.format_number(measured.worst(values))} (n={len(values)})" if values else "·")
            rows.append(row)
        lines += table(["method", *(md(c) for c in columns)], rows)
    return lines


def failures_section(merged: Merged, limit: int) -> list[str]:
    failing = sorted(
        (r for r in merged.records if r["outcome"] in PROBLEMS),
        key=lambda r: (r["target"] or "", r["check"], r["nodeid"]),
    )
    if not failing:
        return ["", "## Failures", "", "None."]
    lines = ["", f"## Failures ({len(failing)})", ""]
    rows = [
        [
            md(r["target"] or "-"),
            md(r["check"]),
            md(r["column"]),
            md(r["outcome"]),
            md(r["reason"] or r["message"] or "-", 160),
            f"<code>{md(r['reproduce'], 300)}</code>" if r["reproduce"] else "-",
        ]
        for r in failing[:limit]
    ]
    lines += table(["method", "check", "environment", "outcome", "message", "reproduce"], rows)
    if len(failing) > limit:
        lines += ["", f"… and {len(failing) - limit} more: see the HTML report."]
    return lines
