"""The capability matrix (``qconform.report.capabilities``) as Markdown and as a section of the HTML page.

Markdown cells are compact and footnote-free: the hardware matrix's symbol, and passed/ran of the proving
checks where some ran; a legend says what proves each column. HTML cells name their deciding records in
their title and, clicked, filter the records table to them (method, environment, and the family or check
when they share one). Text from run files is escaped as in the other renderers.
"""

from __future__ import annotations

from collections.abc import Mapping

from qconform.report.capabilities import (
    CAPABILITIES,
    ON_THE_FLY_ONLY,
    Capability,
    Verdict,
    describe_record,
    shown_targets,
)
from qconform.report.merge import Merged
from qconform.report.render_html import STATE_TITLES, WORDS, _attrs, _method_cells, esc
from qconform.report.render_markdown import SYMBOLS, md, table

Matrices = Mapping[str, Mapping[str, Mapping[str, Verdict]]]

CAPABILITY_SYMBOLS = {**SYMBOLS, "known": "🟡"}
LEGEND = (
    "✅ yes: every check that proves it passed · 🟡 a declared known deviation among them (xfailed) · "
    "❌ one of them failed · nothing ran, why: 📦 not installed here · 🌐 needs the network · ⛔ not supported on "
    "this hardware · ⚪ not applicable (the method lacks it) · — not run · n/m: proving checks passed/ran"
)
INTRO = (
    "What each method of transformers' dispatch does in each environment, as the records of the checks that "
    "prove it say (reference twins left out); a cell says yes only where such a check ran and passed."
)
HTML_WORDS = {**WORDS, "passed": "yes", "known": "known deviation", "failed": "failed"}
HTML_TITLES = {**STATE_TITLES, "passed": "yes", "known": "a declared known deviation", "failed": "a check failed"}
SHOWN_RECORDS = 12  # in a cell's title


def _proofs(capability: Capability) -> str:
    where = f" on {capability.device}" if capability.device else ""
    text = ", ".join(p.describe() for p in capability.proofs) + where
    if capability.from_checkpoint:
        also = ", ".join(p.describe() for p in capability.from_checkpoint)
        text += f"; where {ON_THE_FLY_ONLY} was not applicable (models from pre-quantized checkpoints), also {also}"
    return text


def cell_text(v: Verdict) -> str:
    symbol = CAPABILITY_SYMBOLS[v.state]
    return f"{symbol} {v.cell.passed}/{v.cell.ran}" if v.ran else symbol


def markdown_lines(merged: Merged, matrices: Matrices, heading: str = "###") -> list[str]:
    """Legend, what proves each column, and one table per environment; ``heading`` prefixes each title
    (``###`` in the report; ``**`` makes bold lines, for a README's block)."""
    origins = dict(shown_targets(merged))
    lines = [INTRO, "", LEGEND, "", "Proved by:", ""]
    lines += [f"- {md(c.name)}: {md(_proofs(c), None)}" for c in CAPABILITIES]
    for column, rows in matrices.items():
        title = f"**{md(column)}**" if heading == "**" else f"{heading} {md(column)}"
        lines += ["", title, ""]
        if not rows:
            lines.append("No record of a method here.")
            continue
        lines += table(
            ["method", "origin", *(md(c.name) for c in CAPABILITIES)],
            [
                [md(key), md(origins.get(key) or "-"), *(cell_text(row[c.name]) for c in CAPABILITIES)]
                for key, row in rows.items()
            ],
        )
    return lines


def markdown_section(merged: Merged, matrices: Matrices) -> list[str]:
    """The report's section, after the hardware matrix."""
    return ["", "## Capability matrix", "", *markdown_lines(merged, matrices)]


def readme_block(merged: Merged, matrices: Matrices) -> str:
    """The block a README shows between its qconform:capability-matrix markers."""
    return "\n".join(markdown_lines(merged, matrices, heading="**")) + "\n"


def _html_cell(v: Verdict, target: str, column: str) -> str:
    families = {r["family"] for r in v.records}
    checks = {r["check"] for r in v.records}
    text = HTML_WORDS[v.state] + (f" {v.cell.passed}/{v.cell.ran}" if v.ran else "")
    shown = [describe_record(r) for r in v.records[:SHOWN_RECORDS]]
    more = len(v.records) - len(shown)
    title = "\n".join([HTML_TITLES[v.state], *shown, *([f"… and {more} more"] if more > 0 else [])])
    return (
        f'<td class="cell {v.state}"'
        + _attrs(
            data_sort=f"{v.cell.rank:.6f}",
            data_target=target,
            data_column=column,
            data_family=families.pop() if len(families) == 1 else "",
            data_text=checks.pop().lower() if len(checks) == 1 else "",
            title=title,
            tabindex="0",
        )
        + f">{esc(text)}</td>"
    )


def html_section(merged: Merged, matrices: Matrices) -> list[str]:
    """A <section id="capabilities"> for ``render_html.render``'s sections."""
    head = "".join(f"<th{_attrs(title=f'{c.why}; proved by {_proofs(c)}')}>{esc(c.name)}</th>" for c in CAPABILITIES)
    legend = (
        '<span class="cell passed">yes n/m</span> every check that proves it passed · '
        '<span class="cell known">known deviation</span> a declared one among them · '
        '<span class="cell failed">failed</span> one of them failed · otherwise why nothing ran, as above. '
        "A header's title says which checks prove it; a cell's title lists the records that decide it."
    )
    out = [
        '<section id="capabilities"><h2>Capability matrix</h2>',
        f"<p>{esc(INTRO)}</p>",
        f'<p class="legend">{legend}</p>',
    ]
    for column, rows in matrices.items():
        out.append(f"<h3>{esc(column)}</h3>")
        out.append(
            f'<table class="matrix sortable"><thead><tr><th>method</th><th>origin</th>{head}</tr></thead><tbody>'
        )
        for key, row in rows.items():
            cells = "".join(_html_cell(row[c.name], key, column) for c in CAPABILITIES)
            out.append(f"<tr{_attrs(data_method=key)}>{_method_cells(merged, key)}{cells}</tr>")
        out.append("</tbody></table>")
    out.append("</section>")
    return out
