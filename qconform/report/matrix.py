"""Matrix cells: what a group of records (one method, one family or one environment) amounts to.

A cell is one of these states, decided by counts and the skip reasons' kinds (``qconform.support.outcomes``),
never by names:

- ``passed``: every check that ran passed (skipped checks do not count against it);
- ``partly``: some passed, some did not (failed, error, crashed, timeout, broken, or a declared
  known deviation, xfailed);
- ``failed``: checks ran and none passed;
- nothing ran, every check was skipped, and the first kind among the skips says why: ``not_installed`` (a
  package is missing here), ``needs_network``, ``unsupported`` (the hardware refused, quoted),
  ``not_applicable`` (capabilities the method lacks);
- ``not_run``: no record at all (the method, family or environment was not part of any run).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from qconform.report.merge import NO_TARGET, Merged
from qconform.support.outcomes import KINDS, NEEDS_NETWORK, NOT_APPLICABLE, NOT_INSTALLED, NOT_SUPPORTED, kind_of

# the kinds of skip, in the order a cell that ran nothing names them
SKIP_STATES = {
    NOT_INSTALLED: "not_installed",
    NEEDS_NETWORK: "needs_network",
    NOT_SUPPORTED: "unsupported",
    NOT_APPLICABLE: "not_applicable",
}
STATES = ("passed", "partly", "failed", *SKIP_STATES.values(), "not_run")
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
        return -2.0 if self.state == "not_run" else -1.0

    @property
    def skipped_only(self) -> bool:
        """Nothing ran: the state names why (a kind of skip)."""
        return self.state in SKIP_STATES.values()

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
    skips = Counter(r["reason"] or "skipped without a reason" for r in records if r["outcome"] == "skipped")
    # reasons of the first kind first (the one a cell that ran nothing shows), each kind by frequency
    reasons = tuple(
        sorted((reason for reason, _ in skips.most_common()), key=lambda reason: KINDS.index(kind_of(reason)))
    )
    cell = Cell("not_run", counts, reasons)
    if not records:
        return cell
    if not cell.ran:
        return Cell(SKIP_STATES[kind_of(reasons[0])], counts, reasons)
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
