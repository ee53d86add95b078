"""Matrix cells: what a group of records (one method, one family or one environment) amounts to.

A cell is one of five states, decided by counts, never by names:

- ``passed``: every check that ran passed (checks skipped as not applicable do not count against it);
- ``partly``: some passed, some did not (failed, error, crashed, timeout, broken, or a declared
  known deviation, xfailed);
- ``failed``: checks ran and none passed;
- ``unsupported``: nothing ran, every check was skipped; the skip reasons say why;
- ``not_run``: no record at all (the method, family or environment was not part of any run).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from qconform.report.merge import NO_TARGET, Merged

STATES = ("passed", "partly", "failed", "unsupported", "not_run")
PROBLEMS = ("failed", "error", "crashed", "timeout", "broken")
RAN = ("passed", "xfailed", *PROBLEMS)


@dataclass(frozen=True)
class Cell:
    state: str
    counts: dict[str, int]
    reasons: tuple[str, ...] = ()  # skip reasons, most frequent first

    @property
    def passed(self) -> int:
        return self.counts.get("passed", 0)

    @property
    def ran(self) -> int:
        return sum(self.counts.get(o, 0) for o in RAN)

    @property
    def problems(self) -> int:
        return sum(self.counts.get(o, 0) for o in PROBLEMS)

    @property
    def rank(self) -> float:
        """For sorting: share of checks that passed; unsupported and not run sort below failures."""
        if self.ran:
            return self.passed / self.ran
        return -1.0 if self.state == "unsupported" else -2.0

    def note(self) -> str:
        """What the passed/ran fraction leaves out: known deviations and skipped checks."""
        parts = []
        if self.counts.get("xfailed"):
            parts.append(f"{self.counts['xfailed']} known")
        if self.counts.get("skipped"):
            parts.append(f"{self.counts['skipped']} skipped")
        return f" ({', '.join(parts)})" if parts else ""

    def to_json(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "passed": self.passed,
            "ran": self.ran,
            "counts": self.counts,
            "reasons": list(self.reasons),
        }


def cell_of(records: Iterable[dict[str, Any]]) -> Cell:
    records = list(records)
    counts = dict(sorted(Counter(r["outcome"] for r in records).items()))
    reasons = tuple(
        reason
        for reason, _ in Counter(
            r["reason"] or "skipped without a reason" for r in records if r["outcome"] == "skipped"
        ).most_common()
    )
    cell = Cell("not_run", counts, reasons)
    if not records:
        return cell
    if not cell.ran:
        return Cell("unsupported", counts, reasons)
    if cell.passed == cell.ran:
        return Cell("passed", counts, reasons)
    return Cell("partly" if cell.passed else "failed", counts, reasons)


def target_of(record: dict[str, Any]) -> str:
    return record["target"] or NO_TARGET


def hardware_matrix(merged: Merged) -> dict[str, dict[str, Cell]]:
    """target -> column -> cell over every family."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for record in merged.records:
        groups.setdefault((target_of(record), record["column"]), []).append(record)
    return {key: {c.name: cell_of(groups.get((key, c.name), ())) for c in merged.columns} for key, _ in merged.targets}


def compatibility_matrices(merged: Merged) -> dict[str, dict[str, dict[str, Cell]]]:
    """column -> target -> family -> cell."""
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for record in merged.records:
        groups.setdefault((record["column"], target_of(record), record["family"]), []).append(record)
    return {
        c.name: {
            key: {family: cell_of(groups.get((c.name, key, family), ())) for family in merged.families}
            for key, _ in merged.targets
        }
        for c in merged.columns
    }


def cells_json(
    hardware: dict[str, dict[str, Cell]], compatibility: dict[str, dict[str, dict[str, Cell]]]
) -> dict[str, Any]:
    return {
        "hardware": {t: {c: cell.to_json() for c, cell in row.items()} for t, row in hardware.items()},
        "compatibility": {
            col: {t: {f: cell.to_json() for f, cell in row.items()} for t, row in rows.items()}
            for col, rows in compatibility.items()
        },
    }
