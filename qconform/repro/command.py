"""``qconform repro RUN.json``: pick records of a run and write each as a standalone script.

The script imports only the standard library, torch, transformers, safetensors and the method's packages, and
exits 1 while the deviation holds, 0 once it is fixed, 2 where its environment cannot run it (docs/repro.md).

A record is picked by its node id (``--record``), or by ``--target``, ``--check`` and ``--param name=value``
(and ``--device``); ``--all-deviations --out-dir DIR`` writes one script per failed or xfailed record that a
template covers and lists the others with the reason. Exit status: 0 written, 2 a usage error (no such record,
an ambiguous selector, a check no template covers, inputs a script cannot rebuild).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qconform.repro.generate import REPRODUCIBLE_OUTCOMES, Script, Uncovered, covered_checks, script_for
from qconform.repro.inputs import NotReproducible

USAGE_ERROR = 2


class SelectionError(Exception):
    """A selector that names no record, or several."""


def add_parser(sub: Any) -> None:
    parser = sub.add_parser(
        "repro",
        help="write a failure or known deviation of a run as a standalone script (exit 1 while it holds)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("run_file", metavar="RUN.json", help="a run file (qconform run, pytest --qconform-report)")
    parser.add_argument("--record", metavar="NODEID", help="the record's node id, e.g. 'test_config.py::X[sinq]'")
    parser.add_argument("--target", metavar="METHOD", help="select by dispatch key (with --check)")
    parser.add_argument("--check", metavar="NAME", help="select by check function name (with --target)")
    parser.add_argument(
        "--param", action="append", default=[], metavar="NAME=VALUE", help="a variant parameter, e.g. arch=opt"
    )
    parser.add_argument("--device", help="the record's device (cpu, cuda) where several match")
    parser.add_argument("--out", metavar="PATH", help="write the script here (default: print it)")
    parser.add_argument(
        "--all-deviations", action="store_true", help="one script per failed or xfailed record (with --out-dir)"
    )
    parser.add_argument("--out-dir", metavar="DIR", help="where --all-deviations writes its scripts")


def read_run(path: Path) -> dict[str, Any]:
    from qconform.report.schema import validate_run

    doc = json.loads(path.read_text(encoding="utf-8"))
    validate_run(doc, str(path))
    return doc


def parse_params(pairs: list[str]) -> dict[str, str]:
    params = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise SelectionError(f"--param takes NAME=VALUE, got {pair!r}")
        params[name] = value
    return params


def select(
    records: list[dict[str, Any]],
    nodeid: str | None = None,
    target: str | None = None,
    check: str | None = None,
    params: dict[str, str] | None = None,
    device: str | None = None,
) -> dict[str, Any]:
    """The one record the selector names (by node id, or target + check + params + device)."""
    if nodeid:
        found = [r for r in records if r["nodeid"] == nodeid or r["nodeid"].endswith("/" + nodeid)]
        what = f"node id {nodeid!r}"
    elif target and check:
        wanted = params or {}
        found = [
            r
            for r in records
            if r["target"] == target
            and r["check"] == check
            and all(str(r["params"].get(k)) == v for k, v in wanted.items())
        ]
        what = f"target {target!r}, check {check!r}" + (f", params {wanted}" if wanted else "")
    else:
        raise SelectionError("name a record: --record NODEID, or --target and --check (with --param, --device)")
    if device:
        found = [r for r in found if r.get("device") == device]
        what += f", device {device!r}"
    if not found:
        near = sorted({r["nodeid"] for r in records if (target or nodeid or "") in r["nodeid"]})[:8]
        hint = f"; records of that name: {', '.join(near)}" if near and not nodeid else ""
        raise SelectionError(f"no record with {what} in the run{hint}")
    if len(found) > 1:
        shown = ", ".join(f"{r['nodeid']} ({r.get('device') or '-'})" for r in found[:10])
        raise SelectionError(f"{len(found)} records match {what}: {shown}; add {_telling_apart(found)}")
    return found[0]


def _telling_apart(records: list[dict[str, Any]]) -> str:
    """The options that tell these records apart, e.g. "--param arch=llama|opt"."""
    options = []
    for name in sorted({k for r in records for k in r["params"]}):
        values = sorted({str(r["params"].get(name)) for r in records})
        if len(values) > 1:
            options.append(f"--param {name}={'|'.join(values)}")
    devices = sorted({str(r.get("device")) for r in records})
    if len(devices) > 1:
        options.append(f"--device {'|'.join(devices)}")
    return " ".join(options) or "--record NODEID"


def deviations(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in records if r["outcome"] in REPRODUCIBLE_OUTCOMES]


@dataclass
class Written:
    """What ``--all-deviations`` did: scripts written, records refused (node id, why), checks not covered."""

    paths: list[Path] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)
    uncovered: dict[str, int] = field(default_factory=dict)  # check -> records


def generated(record: dict[str, Any], doc: dict[str, Any], source: str) -> Script:
    """``script_for``, with what packages print while configs are built kept off the terminal."""
    from qconform.support.quiet import captured

    noise: list[str] = []
    with captured(noise):
        return script_for(record, doc, source)


def write_all(doc: dict[str, Any], source: str, out_dir: Path) -> Written:
    """One script per failed or xfailed record that a template covers."""
    out_dir.mkdir(parents=True, exist_ok=True)
    done = Written()
    for record in deviations(doc["records"]):
        try:
            script = generated(record, doc, source)
        except Uncovered as exc:
            done.uncovered[exc.check] = done.uncovered.get(exc.check, 0) + 1
            continue
        except NotReproducible as exc:
            done.refused.append((f"{record['nodeid']} ({record.get('device') or '-'})", str(exc)))
            continue
        path = out_dir / script.name
        path.write_text(script.text, encoding="utf-8")
        done.paths.append(path)
    return done


def run(args: argparse.Namespace) -> int:
    path = Path(args.run_file)
    try:
        doc = read_run(path)
    except (OSError, ValueError) as exc:
        print(f"qconform repro: cannot read {path}: {exc}", file=sys.stderr)
        return USAGE_ERROR
    if args.all_deviations:
        if not args.out_dir:
            print("qconform repro: --all-deviations needs --out-dir DIR", file=sys.stderr)
            return USAGE_ERROR
        done = write_all(doc, str(path), Path(args.out_dir))
        for nodeid, why in done.refused:
            print(f"not written: {nodeid}: {why}")
        if done.uncovered:
            shown = ", ".join(f"{check} ({n})" for check, n in sorted(done.uncovered.items()))
            print(f"not covered by a template: {shown}")
            print(f"checks covered: {', '.join(covered_checks())}")
        skipped = len(done.refused) + sum(done.uncovered.values())
        print(f"{len(done.paths)} script(s) in {args.out_dir}; {skipped} record(s) not written")
        return 0
    try:
        record = select(doc["records"], args.record, args.target, args.check, parse_params(args.param), args.device)
        script = generated(record, doc, str(path))
    except (SelectionError, NotReproducible) as exc:
        print(f"qconform repro: {exc}", file=sys.stderr)
        return USAGE_ERROR
    if args.out:
        Path(args.out).write_text(script.text, encoding="utf-8")
        print(f"wrote {args.out} ({record['nodeid']}); run it: python {args.out}")
    else:
        sys.stdout.write(script.text)
    return 0
