"""The release dimension of a merged report: one machine over several releases, side by side.

A *series* is two or more columns of one machine (same label, Python, CPU and CUDA) whose package
versions differ: the environments of ``qconform matrix``. Its columns are ordered by the releases of
the packages that differ (transformers first), so reading left to right is upgrading. For each pair
of neighbours the *transition* is ``qconform report --diff`` between them (``report.diff``: newly
failing, newly passing, other changes, figures that moved). Each declared known deviation gets its
state per release, measured, not declared: ``held`` (xfailed), ``fixed`` (a strict deviation that no
longer happens is recorded as a failure with the reason "known deviation no longer happens"),
``not drawn`` (a non-strict one this run's inputs did not show) or ``-`` (not run there); one that
no longer holds in the newest release shows as fixed there.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from packaging.version import InvalidVersion, Version

from qconform.report import diff as diffing
from qconform.report import measured
from qconform.report.merge import Column, Merged, Run
from qconform.report.render_html import _cell, _method_cells, esc
from qconform.report.render_markdown import Notes, cell_text, md, table

HELD, FIXED, NOT_DRAWN, NOT_RUN = "held", "fixed", "not drawn", "-"
DECLARED = "known deviation: "
NO_LONGER = "known deviation no longer happens: "
NOT_SHOWN = "known deviation did not show with this run's inputs: "
_MACHINE = ("python", "cpu", "torch_cuda")


@dataclass
class Deviation:
    """One declared deviation of one check of one method, and its state in each release of a series."""

    target: str
    check: str
    reason: str
    states: dict[str, str] = field(default_factory=dict)  # column name -> HELD | FIXED | NOT_DRAWN | NOT_RUN

    def verdict(self, order: Sequence[str], heading: Mapping[str, str]) -> str:
        """``holds in 5.17.0 to 5.25.0``, ``fixed in 5.25.0 (held in 5.17.0 to 5.22.0)``, ..."""
        held = [c for c in order if self.states.get(c) == HELD]
        fixed = [c for c in order if self.states.get(c) == FIXED]
        ranges = _ranges(held, order, heading)
        ran = [c for c in order if self.states.get(c, NOT_RUN) in (HELD, FIXED)]
        if ran and self.states.get(ran[-1]) == FIXED:
            first = len(ran)
            while first > 0 and self.states.get(ran[first - 1]) == FIXED:
                first -= 1
            since = _short(heading[ran[first]])
            return f"fixed in {since}" + (f" (held in {ranges})" if held else "")
        if held:
            suffix = f"; did not hold in {_ranges(fixed, order, heading)}" if fixed else ""
            return f"holds in {ranges}{suffix}"
        return "not shown in any release"

    def to_json(self, order: Sequence[str], heading: Mapping[str, str]) -> dict[str, Any]:
        return {
            "target": self.target,
            "check": self.check,
            "reason": self.reason,
            "states": {heading[c]: self.states.get(c, NOT_RUN) for c in order},
            "verdict": self.verdict(order, heading),
        }


@dataclass
class Series:
    """The columns of one machine over releases, oldest first, with what changed between neighbours."""

    label: str
    varied: list[str]  # packages whose versions differ, transformers first
    columns: list[Column]
    heading: dict[str, str]  # column name -> "transformers 5.17.0"
    transitions: list[diffing.Diff]
    deviations: list[Deviation]

    @property
    def order(self) -> list[str]:
        return [c.name for c in self.columns]

    def to_json(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "varied": self.varied,
            "columns": [{"column": c.name, "heading": self.heading[c.name]} for c in self.columns],
            "transitions": [
                {
                    "from": self.heading[a.name],
                    "to": self.heading[b.name],
                    **{k: v for k, v in t.to_json().items() if k not in ("schema", "version", "old", "new")},
                }
                for a, b, t in zip(self.columns, self.columns[1:], self.transitions)
            ],
            "deviations": [d.to_json(self.order, self.heading) for d in self.deviations],
        }


def release_series(merged: Merged, threshold: float = 0.1) -> list[Series]:
    """Every series in ``merged``; none when no machine ran more than one set of releases."""
    groups: dict[tuple[Any, ...], list[Column]] = {}
    for column in merged.columns:
        machine = tuple(column.environment.get(k) for k in _MACHINE)
        groups.setdefault((column.label, machine), []).append(column)
    found = []
    for (label, _), columns in groups.items():
        varied = _varied(columns)
        if len(columns) < 2 or not varied:
            continue
        columns = sorted(columns, key=lambda c: tuple(_version(_package(c, name)) for name in varied))
        heading = _headings(columns, varied)
        runs = [_column_run(merged, c) for c in columns]
        transitions = [diffing.diff(a, b, threshold) for a, b in itertools.pairwise(runs)]
        found.append(Series(label, varied, columns, heading, transitions, _deviations(merged, columns)))
    return found


def _package(column: Column, name: str) -> str | None:
    return column.environment.get("packages", {}).get(name)


def _varied(columns: Sequence[Column]) -> list[str]:
    names = sorted({n for c in columns for n in c.environment.get("packages", {})})
    varied = [n for n in names if len({_package(c, n) for c in columns}) > 1]
    return sorted(varied, key=lambda n: (n != "transformers", n))


def _headings(columns: Sequence[Column], varied: Sequence[str]) -> dict[str, str]:
    """``transformers 5.17.0``: the first varied package; the others only where that leaves two alike."""
    first = {c.name: f"{varied[0]} {_package(c, varied[0]) or 'missing'}" for c in columns}
    headings = {}
    for column in columns:
        alike = [c for c in columns if first[c.name] == first[column.name]]
        others = [n for n in varied[1:] if len({_package(c, n) for c in alike}) > 1]
        headings[column.name] = " · ".join(
            [first[column.name], *(f"{n} {_package(column, n) or 'missing'}" for n in others)]
        )
    return headings


def _version(text: str | None) -> tuple[int, Version | str]:
    if text is None:
        return (0, "")
    try:
        return (1, Version(text))
    except InvalidVersion:
        return (2, text)


def _column_run(merged: Merged, column: Column) -> Run:
    """The merged records of one column as one run, for ``report.diff``."""
    finished = max((r.finished for r in column.runs), default="")
    records = [r for r in merged.records if r["column"] == column.name]
    doc = {"run": {"finished": finished}, "environment": column.environment, "records": records}
    return Run(column.name, "", doc)


def deviation_state(record: Mapping[str, Any]) -> tuple[str, str] | None:
    """(state, declared reason) when ``record`` is a declared known deviation's outcome, else None."""
    reason = record.get("reason") or ""
    if record["outcome"] == "xfailed":
        return HELD, reason.removeprefix(DECLARED)
    if record["outcome"] == "failed" and reason.startswith(NO_LONGER):
        return FIXED, reason.removeprefix(NO_LONGER).removeprefix(DECLARED)
    if record["outcome"] == "passed" and reason.startswith(NOT_SHOWN):
        return NOT_DRAWN, reason.removeprefix(NOT_SHOWN).removeprefix(DECLARED)
    return None


_RANK = {HELD: 3, FIXED: 2, NOT_DRAWN: 1, NOT_RUN: 0}  # one variant holding means the deviation holds


def _deviations(merged: Merged, columns: Sequence[Column]) -> list[Deviation]:
    names = {c.name for c in columns}
    found: dict[tuple[str, str, str], Deviation] = {}
    for record in merged.records:
        if record["column"] not in names:
            continue
        seen = deviation_state(record)
        if seen is None:
            continue
        state, reason = seen
        key = (record["target"] or "(run)", record["check"], reason)
        deviation = found.setdefault(key, Deviation(*key))
        if _RANK[state] > _RANK[deviation.states.get(record["column"], NOT_RUN)]:
            deviation.states[record["column"]] = state
    return sorted(found.values(), key=lambda d: (d.target, d.check, d.reason))


def _ranges(chosen: Sequence[str], order: Sequence[str], heading: Mapping[str, str]) -> str:
    """Runs of neighbouring columns as ``a to b``, others alone: ``5.17.0 to 5.20.0, 5.25.0``."""
    spans: list[list[str]] = []
    for column in chosen:
        if spans and order.index(column) == order.index(spans[-1][-1]) + 1:
            spans[-1].append(column)
        else:
            spans.append([column])
    short = lambda c: _short(heading[c])  # noqa: E731
    return ", ".join(short(s[0]) if len(s) == 1 else f"{short(s[0])} to {short(s[-1])}" for s in spans)


def _short(heading: str) -> str:
    """``transformers 5.17.0`` -> ``5.17.0`` when one package varies; the whole heading otherwise."""
    name, _, version = heading.partition(" ")
    return version if " · " not in heading and name else heading


def short_heading(series: Series, column: str) -> str:
    return _short(series.heading[column])


def moved_sorted(moves: Sequence[diffing.Move]) -> list[diffing.Move]:
    """Largest relative moves first (NaN or from zero: first of all)."""

    def size(move: diffing.Move) -> float:
        ratio = move.ratio
        return math.inf if math.isnan(ratio) or ratio <= 0 else abs(math.log(ratio))

    return sorted(moves, key=size, reverse=True)


# --- rendering: a Markdown section and an HTML section, called by the renderers when there is a series ---


def markdown_section(
    found: Sequence[Series], merged: Merged, hardware: Mapping[str, Mapping[str, Any]], limit: int = 25
) -> Callable[[Notes], list[str]]:
    """Markdown, for ``render_markdown.render(sections=...)``: per series, the release x method table, its
    transitions and its known deviations (unsupported cells number their reasons in the report's notes)."""
    return lambda notes: _markdown(found, merged, hardware, notes, limit)


def _markdown(
    found: Sequence[Series], merged: Merged, hardware: Mapping[str, Mapping[str, Any]], notes: Notes, limit: int
) -> list[str]:
    lines: list[str] = []
    for series in found:
        order = series.order
        lines += ["", f"## Releases on {md(series.label)}", ""]
        lines += [
            f"Methods by release, oldest first (what differs: {md(', '.join(series.varied))}); the changes between "
            "neighbours are `qconform report --diff` of the two.",
            "",
        ]
        origins = dict(merged.targets)
        rows = [
            [md(key), md(origins.get(key) or "-"), *(cell_text(hardware[key][c], notes) for c in order)]
            for key in hardware
            if any(hardware[key][c].state != "not_run" for c in order)
        ]
        lines += table(["method", "origin", *(md(series.heading[c]) for c in order)], rows)
        lines += ["", "### Transitions", ""]
        lines += table(
            ["from", "to", "newly failing", "newly passing", "other changes", "figures moved", "unchanged"],
            [
                [
                    md(short_heading(series, a)),
                    md(short_heading(series, b)),
                    str(len(t.newly_failing)),
                    str(len(t.newly_passing)),
                    str(len(t.other)),
                    str(len(t.moved)),
                    str(t.unchanged),
                ]
                for a, b, t in zip(order, order[1:], series.transitions)
            ],
        )
        for a, b, transition in zip(order, order[1:], series.transitions):
            lines += _transition_markdown(series, a, b, transition, limit)
        lines += ["", "### Known deviations by release", ""]
        if not series.deviations:
            lines.append("No declared known deviation ran in these environments.")
            continue
        lines += table(
            [
                "method",
                "check",
                "deviation",
                *(md(short_heading(series, c)) for c in order),
                "where it holds (measured)",
            ],
            [
                [
                    md(d.target),
                    md(d.check),
                    md(d.reason, 120),
                    *(d.states.get(c, NOT_RUN) for c in order),
                    md(d.verdict(order, series.heading)),
                ]
                for d in series.deviations
            ],
        )
    return lines


def _transition_markdown(series: Series, a: str, b: str, transition: diffing.Diff, limit: int) -> list[str]:
    if not (transition.newly_failing or transition.newly_passing or transition.other or transition.moved):
        return []
    lines = ["", f"#### {md(short_heading(series, a))} → {md(short_heading(series, b))}"]
    for title, changes in (
        ("Newly failing", transition.newly_failing),
        ("Newly passing", transition.newly_passing),
        ("Other outcome changes", transition.other),
    ):
        if not changes:
            continue
        lines += ["", f"{title} ({len(changes)}):", ""]
        rows = [
            [
                md(c.target),
                md(c.nodeid.rsplit("::", 1)[-1]),
                f"{md(c.old)} → {md(c.new)}",
                md(c.record["reason"] or c.record["message"] or "-", 160),
            ]
            for c in changes[:limit]
        ]
        lines += table(["method", "check", "outcome", "why"], rows)
        if len(changes) > limit:
            lines += ["", f"… and {len(changes) - limit} more (report.json has them all)."]
    if transition.moved:
        moved = moved_sorted(transition.moved)
        lines += [
            "",
            f"Figures that moved by more than {transition.threshold:g} relative ({len(moved)}), largest first:",
            "",
        ]
        rows = [
            [
                md(m.target),
                md(m.nodeid.rsplit("::", 1)[-1]),
                md(m.key),
                measured.format_number(m.old),
                measured.format_number(m.new),
                "-" if math.isnan(m.ratio) else f"x{m.ratio:.3g}",
            ]
            for m in moved[:limit]
        ]
        lines += table(["method", "check", "figure", "before", "after", "after/before"], rows)
        if len(moved) > limit:
            lines += ["", f"… and {len(moved) - limit} more (report.json has them all)."]
    return lines


def html_section(
    found: Sequence[Series], merged: Merged, hardware: Mapping[str, Mapping[str, Any]], limit: int = 200
) -> list[str]:
    """HTML: the same as ``markdown_section``; cells are the hardware matrix's (clickable) cells."""
    out: list[str] = []
    for series in found:
        order = series.order
        head = "".join(f"<th>{esc(series.heading[c])}</th>" for c in order)
        out += [
            f"<h3>{esc(series.label)}</h3>",
            f"<p>Methods by release, oldest first (what differs: {esc(', '.join(series.varied))}).</p>",
            f'<table class="matrix sortable"><thead><tr><th>method</th><th>origin</th>{head}</tr></thead><tbody>',
        ]
        for key in hardware:
            if all(hardware[key][c].state == "not_run" for c in order):
                continue
            cells = "".join(_cell(hardware[key][c], key, c) for c in order)
            out.append(f'<tr data-method="{esc(key)}">{_method_cells(merged, key)}{cells}</tr>')
        out.append("</tbody></table>")
        out.append("<h4>Transitions</h4>")
        out.append(
            "<table><thead><tr><th>from</th><th>to</th><th>newly failing</th><th>newly passing</th>"
            "<th>other changes</th><th>figures moved</th><th>unchanged</th></tr></thead><tbody>"
        )
        for a, b, t in zip(order, order[1:], series.transitions):
            counts = (len(t.newly_failing), len(t.newly_passing), len(t.other), len(t.moved), t.unchanged)
            out.append(
                f"<tr><td>{esc(short_heading(series, a))}</td><td>{esc(short_heading(series, b))}</td>"
                + "".join(f"<td>{n}</td>" for n in counts)
                + "</tr>"
            )
        out.append("</tbody></table>")
        for a, b, t in zip(order, order[1:], series.transitions):
            out += _transition_html(series, a, b, t, limit)
        out.append("<h4>Known deviations by release</h4>")
        if not series.deviations:
            out.append("<p>No declared known deviation ran in these environments.</p>")
            continue
        heads = "".join(f"<th>{esc(short_heading(series, c))}</th>" for c in order)
        out.append(
            '<table class="sortable"><thead><tr><th>method</th><th>check</th><th>deviation</th>'
            f"{heads}<th>where it holds (measured)</th></tr></thead><tbody>"
        )
        for d in series.deviations:
            states = "".join(
                f'<td class="deviation {esc(d.states.get(c, NOT_RUN).replace(" ", "-"))}">'
                f"{esc(d.states.get(c, NOT_RUN))}</td>"
                for c in order
            )
            out.append(
                f"<tr><td>{esc(d.target)}</td><td>{esc(d.check)}</td><td>{esc(d.reason)}</td>{states}"
                f"<td>{esc(d.verdict(order, series.heading))}</td></tr>"
            )
        out.append("</tbody></table>")
    if not out:
        return []
    return [
        '<section id="releases"><h2>Releases</h2>',
        "<p>One machine over several releases; the changes between neighbours are "
        "<code>qconform report --diff</code> of the two.</p>",
        *out,
        "</section>",
    ]


def _transition_html(series: Series, a: str, b: str, transition: diffing.Diff, limit: int) -> list[str]:
    changes = [
        *(("newly failing", c) for c in transition.newly_failing),
        *(("newly passing", c) for c in transition.newly_passing),
        *(("other", c) for c in transition.other),
    ]
    if not changes and not transition.moved:
        return []
    title = f"{short_heading(series, a)} → {short_heading(series, b)}"
    out = [
        f"<details><summary>{esc(title)}: {len(transition.newly_failing)} newly failing, "
        f"{len(transition.newly_passing)} newly passing, {len(transition.other)} other, "
        f"{len(transition.moved)} figures moved</summary>"
    ]
    if changes:
        out.append(
            "<table><thead><tr><th>change</th><th>method</th><th>check</th><th>outcome</th><th>why</th></tr></thead>"
            "<tbody>"
        )
        for kind, c in changes[:limit]:
            why = c.record["reason"] or c.record["message"] or "-"
            out.append(
                f"<tr><td>{esc(kind)}</td><td>{esc(c.target)}</td><td>{esc(c.nodeid.rsplit('::', 1)[-1])}</td>"
                f"<td>{esc(c.old)} → {esc(c.new)}</td><td>{esc(why)}</td></tr>"
            )
        out.append("</tbody></table>")
    if transition.moved:
        out.append(
            "<table><thead><tr><th>method</th><th>check</th><th>figure</th><th>before</th><th>after</th>"
            "<th>after/before</th></tr></thead><tbody>"
        )
        for m in moved_sorted(transition.moved)[:limit]:
            ratio = "-" if math.isnan(m.ratio) else f"x{m.ratio:.3g}"
            out.append(
                f"<tr><td>{esc(m.target)}</td><td>{esc(m.nodeid.rsplit('::', 1)[-1])}</td><td>{esc(m.key)}</td>"
                f"<td>{esc(measured.format_number(m.old))}</td><td>{esc(measured.format_number(m.new))}</td>"
                f"<td>{esc(ratio)}</td></tr>"
            )
        out.append("</tbody></table>")
    out.append("</details>")
    return out


def json_section(found: Sequence[Series]) -> dict[str, Any]:
    """``{"releases": [...]}`` for report.json, or nothing when there is no series (the key is optional)."""
    return {"releases": [s.to_json() for s in found]} if found else {}
