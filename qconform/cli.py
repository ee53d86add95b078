"""``qconform list | run | report | matrix | repro``: the kit from a shell, without writing pytest command lines."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

from qconform.report.records import summarize


def _targets(plugins: Sequence[str]):
    from qconform.discovery.targets import discover

    return discover(plugins)


def families_applying(target) -> list[str]:
    """Check families with at least one check that applies to this target here."""
    from qconform.discovery.checks_index import check_functions
    from qconform.session import collection

    families = []
    for family, functions in check_functions().items():
        if any(collection.target_skip_reason(target, marks) is None for marks in functions.values()):
            families.append(family)
    return families


def format_table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    line = lambda cells: "  ".join(str(c).ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
    return "\n".join([line(header), line(["-" * w for w in widths]), *(line(r) for r in rows)])


def cmd_list(args: argparse.Namespace) -> int:
    found = _targets(args.plugin)
    rows = []
    for target in found.targets.values():
        packages = ", ".join(f"{r.distribution} {r.installed_version() or 'missing'}" for r in target.spec.requirements)
        rows.append(
            [
                target.key,
                target.origin,
                getattr(target.config_class, "__name__", "-"),
                packages or "-",
                ", ".join(families_applying(target)) or "-",
            ]
        )
    print(format_table(rows, ["quantizer", "origin", "config", "backend packages", "check families"]))
    for source, error in found.broken.items():
        print(f"broken plugin: {source}: {error}", file=sys.stderr)
    return 0


RUNS_DIR = "qconform-runs"  # under the working directory: committed reports (reports/runs/) are never written by a run


def default_report_path() -> Path:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    return Path(RUNS_DIR) / f"run-{stamp}.json"


def cmd_run(args: argparse.Namespace, passthrough: list[str]) -> int:
    report = Path(args.report) if args.report else default_report_path()
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", f"--qconform-report={report}"]
    command += [f"--quantizer={q}" for q in args.quantizer or ["all"]]
    command += [f"--qconform-plugin={p}" for p in args.plugin]
    if args.profile:
        command.append(f"--qconform-profile={args.profile}")
    command += [f"--qconform-device={d}" for d in args.device]
    # always under xdist, so that a crashing or hanging quantizer is recorded and the run goes on
    command += ["-n", str(args.workers or 1)]
    command += passthrough
    print("$ " + " ".join(command), flush=True)
    status = subprocess.call(command)
    if report.exists():
        print_summary(json.loads(report.read_text(encoding="utf-8")))
        print(f"report: {report}")
    return status


def print_summary(doc: dict) -> None:
    by_target: dict[str, list[dict]] = {}
    for record in doc["records"]:
        by_target.setdefault(record["target"] or "-", []).append(record)
    outcomes = ["passed", "failed", "error", "crashed", "timeout", "broken", "xfailed", "skipped"]
    rows = []
    for key in sorted(by_target):
        counts = summarize(by_target[key])
        rows.append([key, *(str(counts.get(o, 0) or "") for o in outcomes)])
    print(format_table(rows, ["quantizer", *outcomes]))


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    passthrough: list[str] = []
    if "--" in argv:
        at = argv.index("--")
        argv, passthrough = argv[:at], argv[at + 1 :]
    parser = argparse.ArgumentParser(prog="qconform", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p_list = sub.add_parser("list", help="the quantizers of the dispatch, their backends and check families")
    p_list.add_argument("--plugin", action="append", default=[], metavar="MODULE")

    p_run = sub.add_parser(
        "run", help="run the suite through pytest and write a JSON report (args after -- go to pytest)"
    )
    p_run.add_argument("--quantizer", action="append", metavar="METHOD", help="default: all")
    p_run.add_argument("--plugin", action="append", default=[], metavar="MODULE")
    p_run.add_argument("--profile", choices=["quick", "ci", "thorough"])
    p_run.add_argument("--device", action="append", default=[])
    p_run.add_argument("-n", "--workers", help="pytest-xdist workers (a number or 'auto'; default 1)")
    p_run.add_argument(
        "--report", metavar="PATH", help=f"default: {RUNS_DIR}/run-<UTC time>.json in the working directory"
    )

    from qconform.report import command as report_command

    report_command.add_parser(sub)
    from qconform.releases import command as matrix_command

    matrix_command.add_parser(sub)
    from qconform.repro import command as repro_command

    repro_command.add_parser(sub)

    args = parser.parse_args(argv)
    if args.command == "list":
        return cmd_list(args)
    if args.command == "run":
        return cmd_run(args, passthrough)
    if args.command == "matrix":
        return matrix_command.run(args, passthrough, default_report_path().parent)
    if args.command == "repro":
        return repro_command.run(args)
    return report_command.run(args)


if __name__ == "__main__":
    sys.exit(main())
