"""``qconform matrix``: the suite over releases of transformers (and of one backend), one run file each.

```
qconform matrix --transformers 5.17.0,5.20.0,newest [--backend bitsandbytes=0.48.0,0.50.2]
                [--without gptqmodel] [--out DIR] [--report DIR] [--profile quick] [-n 2] [--dry-run]
```

Exit status: 0 every environment ran its suite (whatever the checks found); 1 some environment did
not (a release the index does not serve, a build that failed, a suite that left no run file: each is
in ``DIR/matrix/summary.json`` with its reason); 2 usage.
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime, timezone
from pathlib import Path

from qconform.releases import index
from qconform.releases.environments import EnvBuildError, cache_root, spec_for
from qconform.releases.plan import TRANSFORMERS, Environment, PlanError, parse_backend, parse_versions, plan, resolve
from qconform.releases.run import SuiteOptions, run_matrix


def add_parser(sub) -> None:
    p = sub.add_parser(
        "matrix",
        help="run the suite in fresh, cached environments over releases of transformers or a backend",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--transformers",
        metavar="VERSIONS",
        help="comma-separated releases, 'newest' for the newest served (default: the one installed here)",
    )
    p.add_argument(
        "--backend",
        metavar="NAME=VERSIONS",
        help="also vary one backend, e.g. bitsandbytes=0.48.0,0.50.2 (every other package stays as here)",
    )
    p.add_argument(
        "--without",
        action="append",
        default=[],
        metavar="NAME",
        help="leave a package out of every environment (one that refuses an older release, say)",
    )
    p.add_argument(
        "--out", metavar="DIR", help="run files; logs and summary.json in DIR/matrix/ (default: beside qconform run's)"
    )
    p.add_argument("--report", metavar="DIR", help="then merge the run files with qconform report into DIR")
    p.add_argument("--env-cache", metavar="DIR", help=f"where environments are kept (default: {cache_root()})")
    p.add_argument("--dry-run", action="store_true", help="print the environments and their keys; build nothing")
    p.add_argument("--quantizer", action="append", default=[], metavar="METHOD", help="default: all")
    p.add_argument("--plugin", action="append", default=[], metavar="MODULE")
    p.add_argument("--profile", choices=["quick", "ci", "thorough"], default="quick")
    p.add_argument("--device", action="append", default=[])
    p.add_argument("-n", "--workers", default="1", help="pytest-xdist workers per suite run (default 1)")


def run(args: argparse.Namespace, passthrough: list[str], runs_folder: Path) -> int:
    """The command; without ``--out`` its files go to ``runs_folder/matrix-<UTC time>/`` (beside qconform run's)."""
    try:
        environments = planned(args.transformers, args.backend)
    except PlanError as exc:
        print(f"qconform matrix: error: {exc}", file=sys.stderr)
        return 2
    if args.dry_run:
        for number, environment in enumerate(environments, 1):
            line = f"[{number}/{len(environments)}] {environment.label}: "
            if environment.unknown:
                print(line + "; ".join(environment.unknown))
                continue
            try:
                print(line + f"environment {spec_for(environment.pins(), args.without).key()}")
            except EnvBuildError as exc:
                print(line + str(exc))
        return 0
    out = Path(args.out) if args.out else runs_folder / datetime.now(timezone.utc).strftime("matrix-%Y%m%d-%H%M%S")
    options = SuiteOptions(
        profile=args.profile,
        workers=args.workers,
        quantizers=args.quantizer,
        plugins=args.plugin,
        devices=args.device,
        pytest_args=passthrough,
    )
    env_root = Path(args.env_cache) if args.env_cache else None
    print(f"qconform matrix: {len(environments)} environment(s); run files in {out}/", flush=True)
    results = run_matrix(environments, out, options, without=args.without, env_root=env_root)
    ran = [r for r in results if r.status == "ran"]
    print(
        f"qconform matrix: {len(ran)}/{len(results)} environment(s) ran; summary in {out / 'matrix' / 'summary.json'}"
    )
    if args.report and ran:
        from qconform.report import command as report_command

        report_args = argparse.Namespace(
            runs=[str(out / r.run_file) for r in ran if r.run_file],
            out=args.report,
            readme=None,
            diff=None,
            threshold=0.1,
        )
        if report_command.run(report_args) != 0:
            return 2
    return 0 if len(ran) == len(results) else 1


def planned(transformers: str | None, backend: str | None) -> list[Environment]:
    """The environments of the command line, each release checked against what the index serves."""
    from qconform.support.environment import distribution_version

    wanted = parse_versions(transformers) if transformers else [distribution_version(TRANSFORMERS) or "newest"]
    served = index.served_versions(TRANSFORMERS)
    if served is None:
        print("qconform matrix: the package index could not be asked; releases are taken on trust", file=sys.stderr)
    varied_backend = None
    if backend:
        name, versions = parse_backend(backend)
        varied_backend = (name, resolve(versions, index.served_versions(name), name))
    return plan(resolve(wanted, served, TRANSFORMERS), varied_backend)
