"""Merge run files from many machines and software versions into one set of records by environment.

A column of a hardware matrix is an environment: the machine's label (``cpu x86_64``,
``NVIDIA H100 80GB HBM3 sm_90``) plus its software. Runs with the same label and the same software
(say, one run per quantizer on one machine) share a column; runs with the same label but other
software get columns of their own, named by what differs. Where two runs of one column hold the same
check, the one that finished last wins.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qconform.report.schema import REPORT_SCHEMA, REPORT_VERSION, SchemaError, validate_run
from qconform.support.environment import environment_label

_PRIORITY = ("transformers", "torch", "python", "accelerate", "cpu", "torch_cuda")  # what names a column first
NO_TARGET = "(run)"  # records that belong to no quantizer, e.g. a plugin that failed to import
FAMILY_ORDER = ("config", "environment", "device_map", "lifecycle", "numerics")
ORIGIN_ORDER = {"transformers": 0, "reference": 1, "plugin": 2}


@dataclass(frozen=True)
class Run:
    """One validated run file."""

    source: str
    sha256: str
    doc: dict[str, Any]

    @property
    def environment(self) -> dict[str, Any]:
        return self.doc["environment"]

    @property
    def records(self) -> list[dict[str, Any]]:
        return self.doc["records"]

    @property
    def finished(self) -> str:
        return self.doc["run"]["finished"]


@dataclass
class Column:
    name: str
    label: str
    environment: dict[str, Any]
    runs: list[Run] = field(default_factory=list)


@dataclass
class Merged:
    runs: list[Run]
    columns: list[Column]
    records: list[dict[str, Any]]  # each run record plus "column" and "source"
    targets: list[tuple[str, str | None]]  # (key, origin), display order
    families: list[str]
    superseded: dict[str, int]  # source -> records replaced by a newer run of the same column

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)


def load_run(path: str | os.PathLike[str]) -> Run:
    """Read and validate one run file; a SchemaError names the file and the field."""
    source = str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise SchemaError(f"{source}: cannot read: {exc.strerror or exc}") from exc
    try:
        doc = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise SchemaError(f"{source}: not JSON: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    except json.JSONDecodeError as exc:
        raise SchemaError(f"{source}: not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from exc
    validate_run(doc, source)
    return Run(source, hashlib.sha256(data).hexdigest(), doc)


def load_runs(paths: Iterable[str | os.PathLike[str]]) -> list[Run]:
    """Every file read; all their errors together in one SchemaError (one line each)."""
    runs, errors, seen = [], [], set()
    for path in paths:
        try:
            run = load_run(path)
        except SchemaError as exc:
            errors.append(str(exc))
            continue
        if run.sha256 not in seen:  # the same file given twice counts once
            seen.add(run.sha256)
            runs.append(run)
    if errors:
        raise SchemaError("\n".join(errors))
    return runs


def software(env: dict[str, Any]) -> dict[str, str | None]:
    """What distinguishes two environments of one label: Python, CPU, CUDA and package versions."""
    facts = {"python": env.get("python"), "cpu": env.get("cpu"), "torch_cuda": env.get("torch_cuda")}
    facts.update({name: version for name, version in sorted(env.get("packages", {}).items())})
    return facts


def _column_names(groups: list[tuple[str, dict[str, str | None]]]) -> list[str]:
    """The label, plus what differs from the other groups of the same label where needed."""
    names = []
    for label, facts in groups:
        others = [f for lbl, f in groups if lbl == label and f is not facts]
        if not others:
            names.append(label)
            continue
        keys = list(dict.fromkeys(k for k in [*facts, *(k for o in others for k in o)]))
        differing = [k for k in keys if any(o.get(k) != facts.get(k) for o in others)]
        differing.sort(key=lambda k: (k not in _PRIORITY, _PRIORITY.index(k) if k in _PRIORITY else 0))
        names.append(f"{label} · " + ", ".join(f"{k} {facts.get(k) or 'missing'}" for k in differing[:2]))
    counts = Counter(names)
    seen: Counter[str] = Counter()
    unique = []
    for name in names:
        seen[name] += 1
        unique.append(name if counts[name] == 1 else f"{name} #{seen[name]}")
    return unique


def _column_order(column: Column) -> tuple[int, str]:
    return (1 if column.environment.get("accelerators") else 0, column.name)


def family_order(families: Iterable[str]) -> list[str]:
    """The contract's families in the design's order, then any others alphabetically."""
    found = set(families)
    known = [f for f in FAMILY_ORDER if f in found]
    return known + sorted(found - set(known))


def merge(runs: Sequence[Run]) -> Merged:
    groups: list[tuple[str, dict[str, str | None]]] = []
    members: list[list[Run]] = []
    for run in runs:
        key = (environment_label(run.environment), software(run.environment))
        if key in groups:
            members[groups.index(key)].append(run)
        else:
            groups.append(key)
            members.append([run])
    columns = [
        Column(name, label, runs_of[-1].environment, runs_of)
        for name, (label, _), runs_of in zip(_column_names(groups), groups, members)
    ]
    columns.sort(key=_column_order)

    records: list[dict[str, Any]] = []
    superseded: Counter[str] = Counter()
    for column in columns:
        newest: dict[tuple[Any, ...], dict[str, Any]] = {}
        for run in sorted(column.runs, key=lambda r: r.finished):
            for record in run.records:
                key = record_key(record)
                if key in newest:
                    superseded[newest[key]["source"]] += 1
                newest[key] = {**record, "column": column.name, "source": run.source}
        records.extend(newest.values())

    origins: dict[str, str | None] = {}
    for record in records:
        key = record["target"] or NO_TARGET
        if origins.get(key) is None:
            origins[key] = record["origin"]
    targets = sorted(origins.items(), key=lambda t: (t[0] == NO_TARGET, ORIGIN_ORDER.get(t[1] or "", 3), t[0]))
    families = family_order(r["family"] for r in records)
    return Merged(list(runs), columns, records, targets, families, dict(superseded))


def record_key(record: dict[str, Any]) -> tuple[Any, ...]:
    """Identity of a check outcome across runs; node ids lose their directory (runs start anywhere)."""
    path, sep, rest = record["nodeid"].partition("::")
    return (record["target"], path.rsplit("/", 1)[-1] + sep + rest, record["device"])


def merged_document(merged: Merged, cells: dict[str, Any]) -> dict[str, Any]:
    """The merged JSON (schema ``qconform.report``), documented in docs/report-schema.md."""
    return {
        "schema": REPORT_SCHEMA,
        "version": REPORT_VERSION,
        "sources": [
            {
                "file": os.path.basename(run.source),
                "sha256": run.sha256,
                "column": next(c.name for c in merged.columns if run in c.runs),
                "started": run.doc["run"]["started"],
                "finished": run.finished,
                "qconform_version": run.doc["run"].get("qconform_version"),
                "records": len(run.records),
                "superseded": merged.superseded.get(run.source, 0),
            }
            for run in merged.runs
        ],
        "columns": [
            {
                "name": c.name,
                "label": c.label,
                "environment": c.environment,
                "runs": [os.path.basename(r.source) for r in c.runs],
            }
            for c in merged.columns
        ],
        "targets": [{"key": key, "origin": origin} for key, origin in merged.targets],
        "families": merged.families,
        **cells,
        "records": merged.records,
    }
