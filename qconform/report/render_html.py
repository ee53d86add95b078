"""One self-contained HTML page: matrices, software, figures and every record, sortable and filterable.

Everything from a run file goes through ``esc`` (``html.escape`` with quotes) on its way into the
page, in text and in attributes alike; the script reads data only through ``dataset`` and writes only
``textContent``, and a Content-Security-Policy admits no script but the page's own (by hash), so a
record that holds markup shows as text and runs nothing. No network: plots are inline data URIs.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
from collections.abc import Iterable, Mapping
from typing import Any

from qconform.report import measured
from qconform.report.matrix import PROBLEMS, Cell
from qconform.report.merge import NO_TARGET, Merged
from qconform.report.render_assets import SCRIPT, STYLE

STATE_TITLES = {
    "passed": "every check that ran passed",
    "partly": "partly passed",
    "failed": "no check passed",
    "not_installed": "not installed here",
    "needs_network": "needs the network",
    "unsupported": "not supported on this hardware",
    "not_applicable": "not applicable",
    "not_run": "not run",
}
WORDS = {
    "passed": "passed",
    "partly": "partly",
    "failed": "failed",
    "not_installed": "not installed",
    "needs_network": "needs network",
    "unsupported": "not supported",
    "not_applicable": "n/a",
    "not_run": "not run",
}
LEGEND_HTML = (
    '<span class="cell passed">passed n/m</span> every check that ran passed · '
    '<span class="cell partly">partly n/m</span> some passed · <span class="cell failed">failed 0/m</span> none '
    'passed · nothing ran, with why: <span class="cell not_installed">not installed</span> here · '
    '<span class="cell needs_network">needs network</span> · <span class="cell unsupported">not supported</span> '
    'on this hardware · <span class="cell not_applicable">n/a</span> not applicable · '
    '<span class="cell not_run">not run</span> · "known": declared known deviations (xfailed)'
)
OUTCOME_ORDER = ("crashed", "timeout", "broken", "error", "failed", "xfailed", "skipped", "passed")
KEY_PACKAGES = ("torch", "transformers", "accelerate")


def esc(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _attrs(**values: Any) -> str:
    """Escaped attributes; ``data_x`` becomes ``data-x``, ``class_`` becomes ``class``."""
    return "".join(f' {name.rstrip("_").replace("_", "-")}="{esc(v)}"' for name, v in values.items())


def render(
    merged: Merged,
    hardware: Mapping[str, Mapping[str, Cell]],
    compatibility: Mapping[str, Mapping[str, Mapping[str, Cell]]],
    plots: Mapping[str, bytes] | None = None,
    sections: Mapping[str, list[str]] | None = None,
) -> str:
    """The page; ``sections`` (anchor -> a <section> with that id) go after the hardware matrix, linked from the nav."""
    script = SCRIPT
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    policy = f"default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'sha256-{digest}'"
    newest = max((r.finished for r in merged.runs), default="-")
    body = [
        "<header>",
        "<h1>qconform compatibility report</h1>",
        f"<p>{len(merged.runs)} run(s), {len(merged.records)} records, {len(merged.columns)} environment(s); "
        f"newest run finished {esc(newest)}.</p>",
        '<nav><a href="#hardware">hardware matrix</a> · <a href="#software">software</a> · '
        '<a href="#compatibility">compatibility</a> · <a href="#figures">measured figures</a> · '
        '<a href="#records">records</a> · <a href="#sources">sources</a>'
        + "".join(f' · <a href="#{esc(anchor)}">{esc(anchor)}</a>' for anchor in sections or {})
        + "</nav>",
        f'<p class="legend">{LEGEND_HTML}.<br>Click a cell for its records; click a header to sort.</p>',
        '<p><label>Methods: <input id="filter-methods" type="search" placeholder="filter methods"></label></p>',
        "</header>",
        *_hardware(merged, hardware),
        *(line for lines in (sections or {}).values() for line in lines),
        *_software(merged),
        *_compatibility(merged, compatibility),
        *_figures(plots or {}),
        *_records(merged),
        *_sources(merged),
    ]
    return "\n".join(
        [
            "<!doctype html>",
            '<html lang="en"><head><meta charset="utf-8">',
            f'<meta http-equiv="Content-Security-Policy" content="{esc(policy)}">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            "<title>qconform compatibility report</title>",
            f"<style>{STYLE}</style></head><body>",
            *body,
            f"<script>{script}</script>",
            "</body></html>",
            "",
        ]
    )


def _cell(cell: Cell, target: str, column: str, family: str = "") -> str:
    # words, not emoji: a browser without an emoji font shows them all the same
    if cell.state in ("passed", "partly", "failed"):
        text = f"{WORDS[cell.state]} {cell.passed}/{cell.ran}{cell.note()}"
    else:
        text = WORDS[cell.state]
    counts = ", ".join(f"{n} {outcome}" for outcome, n in cell.counts.items())
    title = STATE_TITLES[cell.state] + (f": {counts}" if counts else "")
    if cell.reasons:
        title += "\nwhy: " + "\n".join(cell.reasons[:5])
    reason = f'<span class="why">{esc(cell.reasons[0])}</span>' if cell.skipped_only else ""
    return (
        f'<td class="cell {cell.state}"'
        + _attrs(
            data_sort=f"{cell.rank:.6f}",
            data_target=target,
            data_column=column,
            data_family=family,
            title=title,
            tabindex="0",
        )
        + f">{esc(text)}{reason}</td>"
    )


def _method_cells(merged: Merged, key: str) -> str:
    origin = dict(merged.targets).get(key)
    return f"<th scope=row>{esc(key)}</th><td>{esc(origin or '-')}</td>"


def _hardware(merged: Merged, hardware: Mapping[str, Mapping[str, Cell]]) -> list[str]:
    columns = [c.name for c in merged.columns]
    head = "".join(f"<th>{esc(c)}</th>" for c in columns)
    rows = [
        f"<tr{_attrs(data_method=key)}>{_method_cells(merged, key)}"
        + "".join(_cell(hardware[key][c], key, c) for c in columns)
        + "</tr>"
        for key in hardware
    ]
    return [
        '<section id="hardware"><h2>Hardware matrix</h2>',
        "<p>Methods by environment, over every check family.</p>",
        f'<table class="matrix sortable"><thead><tr><th>method</th><th>origin</th>{head}</tr></thead>',
        "<tbody>",
        *rows,
        "</tbody></table></section>",
    ]


def _software(merged: Merged) -> list[str]:
    columns = merged.columns
    packages = sorted({name for c in columns for name in c.environment.get("packages", {})})
    rows = []
    for name in ("python", "cpu", "platform", "torch_cuda"):
        rows.append((name, [c.environment.get(name) for c in columns]))
    rows.append(
        ("accelerators", [", ".join(_accelerator(a) for a in c.environment.get("accelerators", [])) for c in columns])
    )
    for name in packages:
        rows.append((name, [c.environment.get("packages", {}).get(name) for c in columns]))
    body = []
    for index, (name, values) in enumerate(rows):
        differs = len({v or "" for v in values}) > 1
        absent = "missing" if index >= len(rows) - len(packages) else "-"  # a package is missing; a fact is none
        cells = "".join(f"<td>{esc(v) if v else f'<span class=missing>{absent}</span>'}</td>" for v in values)
        body.append(f"<tr{' class=differs' if differs else ''}><th scope=row>{esc(name)}</th>{cells}</tr>")
    head = "".join(f"<th>{esc(c.name)}</th>" for c in columns)
    return [
        '<section id="software"><h2>Software per environment</h2>',
        "<p>Highlighted rows differ between environments.</p>",
        f"<table><thead><tr><th></th>{head}</tr></thead><tbody>",
        *body,
        "</tbody></table></section>",
    ]


def _accelerator(acc: Mapping[str, Any]) -> str:
    return f"{acc.get('name')} (compute capability {acc.get('compute_capability')})"


def _compatibility(merged: Merged, compatibility: Mapping[str, Mapping[str, Mapping[str, Cell]]]) -> list[str]:
    out = ['<section id="compatibility"><h2>Compatibility per environment</h2>', "<p>Methods by check family.</p>"]
    head = "".join(f"<th>{esc(f)}</th>" for f in merged.families)
    for column, rows in compatibility.items():
        out.append(f"<h3>{esc(column)}</h3>")
        out.append(
            f'<table class="matrix sortable"><thead><tr><th>method</th><th>origin</th>{head}</tr></thead><tbody>'
        )
        for key, row in rows.items():
            if all(cell.state == "not_run" for cell in row.values()):
                continue
            cells = "".join(_cell(row[f], key, column, f) for f in merged.families)
            out.append(f"<tr{_attrs(data_method=key)}>{_method_cells(merged, key)}{cells}</tr>")
        out.append("</tbody></table>")
    out.append("</section>")
    return out


def _figures(plots: Mapping[str, bytes]) -> list[str]:
    out = ['<section id="figures"><h2>Measured figures</h2>']
    if not plots:
        out.append("<p>No check recorded a numeric figure in these runs.</p>")
    for key, png in plots.items():
        data = base64.b64encode(png).decode()
        out.append(
            f'<figure><img src="data:image/png;base64,{data}" alt="{esc(key)} per method and environment">'
            f"<figcaption>{esc(key)}: one dot per record; colour: environment</figcaption></figure>"
        )
    out.append("</section>")
    return out


def _environment_line(environment: Mapping[str, Any], label: str) -> str:
    packages = environment.get("packages", {})
    parts = [label, f"Python {environment.get('python', '?')}"]
    parts += [f"{name} {packages[name]}" for name in KEY_PACKAGES if packages.get(name)]
    parts += [f"{name} {v}" for name, v in sorted(packages.items()) if v and name not in KEY_PACKAGES]
    return " · ".join(parts)


def _records(merged: Merged) -> list[str]:
    environments = {c.name: _environment_line(c.environment, c.label) for c in merged.columns}
    order = {o: i for i, o in enumerate(OUTCOME_ORDER)}
    records = sorted(
        merged.records,
        key=lambda r: (
            order.get(r["outcome"], 0),
            r["target"] or "",
            r["family"],
            r["check"],
            r["nodeid"],
            r["column"],
        ),
    )
    targets = [key for key, _ in merged.targets]
    outcomes = [o for o in OUTCOME_ORDER if any(r["outcome"] == o for r in records)]
    rows = [_record_row(r, environments[r["column"]]) for r in records]
    return [
        '<section id="records"><h2>Records</h2>',
        '<div class="filters">',
        '<label>Search <input id="filter-text" type="search" placeholder="method, check, message…"></label>',
        _select("filter-target", "method", [("", "every method"), *((t, t) for t in targets)]),
        _select("filter-family", "family", [("", "every family"), *((f, f) for f in merged.families)]),
        _select(
            "filter-column", "environment", [("", "every environment"), *((c.name, c.name) for c in merged.columns)]
        ),
        _select(
            "filter-outcome",
            "outcome",
            [("not-passed", "all but passed"), ("", "all"), ("problems", "failures"), *((o, o) for o in outcomes)],
        ),
        '<span id="filter-count" aria-live="polite"></span>',
        "</div>",
        '<table id="records-table" class="sortable"><thead><tr><th>method</th><th>family</th><th>check</th>'
        "<th>parameters</th><th>device</th><th>environment</th><th>outcome</th><th>seconds</th><th>details</th>"
        "</tr></thead><tbody>",
        *rows,
        "</tbody></table></section>",
    ]


def _select(name: str, label: str, options: Iterable[tuple[str, str]]) -> str:
    items = "".join(f'<option value="{esc(v)}">{esc(text)}</option>' for v, text in options)
    return f'<label>{esc(label)} <select id="{name}">{items}</select></label>'


def _record_row(record: dict[str, Any], environment: str) -> str:
    target = record["target"] or NO_TARGET
    params = record["params"].get("id") if set(record["params"]) == {"id"} else json.dumps(record["params"])
    params = params if record["params"] else ""
    attrs = _attrs(
        class_=f"record outcome-{record['outcome']}",
        data_target=target,
        data_family=record["family"],
        data_column=record["column"],
        data_outcome=record["outcome"],
    )
    cells = [
        f"<td>{esc(target)}</td>",
        f"<td>{esc(record['family'])}</td>",
        f"<td>{esc(record['check'])}</td>",
        f"<td class=params>{esc(params)}</td>",
        f"<td>{esc(record['device'] or '-')}</td>",
        f"<td>{esc(record['column'])}</td>",
        f'<td class="outcome {esc(record["outcome"])}">{esc(record["outcome"])}</td>',
        f'<td data-sort="{esc(record["duration_s"])}">{record["duration_s"]:.3g}</td>',
        f"<td>{_details(record, environment)}</td>",
    ]
    return f"<tr{attrs}>{''.join(cells)}</tr>"


def _details(record: dict[str, Any], environment: str) -> str:
    figures = ", ".join(
        f"{k}={measured.format_number(f)}"
        for k, v in record["measured"].items()
        if (f := measured.number(v)) is not None
    )
    figures_html = f'<span class="measured">{esc(figures)}</span>' if figures else ""
    if record["outcome"] not in (*PROBLEMS, "xfailed", "skipped"):
        return figures_html
    summary_text = record["reason"] or record["message"] or record["outcome"]
    summary = esc(" ".join(summary_text.split())[:160])
    parts = [f'<details class="{"failure" if record["outcome"] in PROBLEMS else "note"}"><summary>{summary}</summary>']
    for title, value in (
        ("reason", record["reason"]),
        ("message", record["message"]),
        ("counterexample", record["counterexample"]),
        ("reproduce", record["reproduce"]),
    ):
        if value:
            parts.append(f'<h4>{title}</h4><pre class="{title}">{esc(value)}</pre>')
    if record["outcome"] in PROBLEMS:
        parts.append(f'<h4>environment</h4><p class="environment">{esc(environment)}</p>')
        parts.append(f'<h4>node id</h4><pre class="nodeid">{esc(record["nodeid"])}</pre>')
    if figures:
        parts.append(f"<h4>measured</h4><p>{figures_html}</p>")
    parts.append("</details>")
    return "".join(parts)


def _sources(merged: Merged) -> list[str]:
    rows = []
    for column in merged.columns:
        for run in column.runs:
            info = run.doc["run"]
            rows.append(
                "<tr>"
                + "".join(
                    f"<td>{esc(v)}</td>"
                    for v in (
                        run.source.rsplit("/", 1)[-1],
                        column.name,
                        info.get("started"),
                        info.get("duration_s"),
                        len(run.records),
                        merged.superseded.get(run.source, 0),
                        " ".join(map(str, info.get("argv", [])))[:300],
                    )
                )
                + "</tr>"
            )
    return [
        '<section id="sources"><h2>Sources</h2>',
        "<table><thead><tr><th>run file</th><th>environment</th><th>started</th><th>seconds</th><th>records</th>"
        "<th>superseded by newer runs</th><th>command</th></tr></thead><tbody>",
        *rows,
        "</tbody></table></section>",
    ]
