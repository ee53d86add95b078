"""``qconform report``: merge run files into compatibility and hardware matrices; ``--diff`` two runs.

```
qconform report RUN.json... [--out DIR] [--readme README.md]
                                  # DIR/report.{md,html,json}, DIR/plots/*.png; the README's
                                  # blocks between <!-- qconform:hardware-matrix --> markers
                                  # (and <!-- qconform:capability-matrix --> ones, if it has them)
qconform report --diff OLD.json NEW.json [--threshold 0.1] [--out DIR]
```

Exit status: 0 done; 1 ``--diff`` found checks that newly fail; 2 bad input or usage (every bad file
is named with its first bad field). Inputs are only read, never written (an output path that is an
input is refused); each output is written atomically; ``$GITHUB_STEP_SUMMARY``, when set, gets the
Markdown appended.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from qconform.report import diff as diffing
from qconform.report import readme, releases, render_capabilities, render_html, render_markdown, render_png
from qconform.report.capabilities import capability_matrices
from qconform.report.matrix import cells_json, compatibility_matrices, hardware_matrix
from qconform.report.merge import load_run, load_runs, merge, merged_document
from qconform.report.readme import MarkerError
from qconform.report.schema import SchemaError
from qconform.report.writer import json_text, write_bytes_atomic

DEFAULT_OUT = "reports"
PLOTS = "plots"


def add_parser(sub) -> None:
    p = sub.add_parser(
        "report",
        help="merge run files into compatibility reports (Markdown, HTML, PNG, JSON); --diff two runs",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("runs", nargs="*", metavar="RUN.json", help="run files written by --qconform-report")
    p.add_argument("--out", metavar="DIR", help=f"output folder (default: {DEFAULT_OUT}/ for a report)")
    p.add_argument(
        "--readme",
        metavar="FILE",
        help="also replace the hardware matrix between the qconform:hardware-matrix markers in FILE "
        "(and the capability matrix between qconform:capability-matrix markers, where FILE has them)",
    )
    p.add_argument("--diff", nargs=2, metavar=("OLD.json", "NEW.json"), help="compare two runs")
    p.add_argument(
        "--threshold",
        type=float,
        default=0.1,
        help="relative change above which a measured figure counts as moved (default 0.1)",
    )


def run(args: argparse.Namespace) -> int:
    if not args.runs and not args.diff:
        return _usage("give run files to merge, or --diff OLD.json NEW.json")
    if args.threshold < 0 or args.threshold != args.threshold:
        return _usage("--threshold must be a number >= 0")
    summary: list[str] = []
    status = 0
    try:
        if args.runs:
            readme = Path(args.readme) if args.readme else None
            summary.append(report(args.runs, Path(args.out or DEFAULT_OUT), readme))
        if args.diff:
            text, regressed = compare(*args.diff, threshold=args.threshold, out=Path(args.out) if args.out else None)
            print(text, end="")
            summary.append(text)
            status = 1 if regressed else 0
    except (SchemaError, OutputError, MarkerError) as exc:
        for line in str(exc).splitlines():
            print(f"qconform report: error: {line}", file=sys.stderr)
        return 2
    step_summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if step_summary:
        with open(step_summary, "a", encoding="utf-8") as handle:
            handle.write("\n".join(summary))
    return status


def _usage(message: str) -> int:
    print(f"qconform report: error: {message}", file=sys.stderr)
    return 2


class OutputError(ValueError):
    """An output would overwrite an input, or cannot be written."""


def report(paths: list[str], out: Path, readme_path: Path | None = None) -> str:
    """Write the merged report under ``out``; return the Markdown for a CI summary (without images)."""
    runs = load_runs(paths)
    merged = merge(runs)
    hardware, compatibility = hardware_matrix(merged), compatibility_matrices(merged)
    if render_png.available():
        plots = render_png.plot_files(merged)
    else:
        plots = {}
        print(
            "qconform report: matplotlib is not installed, so no plots (pip install 'qconform[report]')",
            file=sys.stderr,
        )
    series = releases.release_series(merged)  # one machine over several releases (qconform matrix)
    md_sections = [releases.markdown_section(series, merged, hardware)] if series else []
    capabilities = capability_matrices(merged)
    md_capabilities = render_capabilities.markdown_section(merged, capabilities)
    html_sections = {"capabilities": render_capabilities.html_section(merged, capabilities)}
    if series:
        html_sections["releases"] = releases.html_section(series, merged, hardware)
    outputs: dict[Path, bytes] = {
        out / "report.md": render_markdown.render(
            merged,
            hardware,
            compatibility,
            {k: f"{PLOTS}/{name}" for k, (name, _) in plots.items()},
            sections=md_sections,
            after_hardware=md_capabilities,
        ).encode(),
        out / "report.html": render_html.render(
            merged,
            hardware,
            compatibility,
            {k: png for k, (_, png) in plots.items()},
            html_sections,
        ).encode(),
        out / "report.json": json_text(
            {**merged_document(merged, cells_json(hardware, compatibility)), **releases.json_section(series)},
            compact=True,
        ).encode(),
        **{out / PLOTS / name: png for name, png in plots.values()},
    }
    if readme_path is not None:
        blocks = {
            readme.HARDWARE: render_markdown.hardware_section(merged, hardware),
            readme.CAPABILITIES: render_capabilities.readme_block(merged, capabilities),
        }
        outputs[readme_path] = readme.updated(readme_path, blocks).encode()
    _refuse_overwriting_inputs(outputs, paths)
    for path, data in outputs.items():
        _write(path, data)
    stale = [p for p in (out / PLOTS).glob("measured-*.png") if p not in outputs]
    for path in stale:  # plots of figures no run measures any more
        path.unlink()
    for path in outputs:
        print(f"wrote {path}")
    return render_markdown.render(merged, hardware, compatibility, sections=md_sections, after_hardware=md_capabilities)


def compare(old: str, new: str, threshold: float, out: Path | None) -> tuple[str, bool]:
    errors, loaded = [], []
    for path in (old, new):
        try:
            loaded.append(load_run(path))
        except SchemaError as exc:
            errors.append(str(exc))
    if errors:
        raise SchemaError("\n".join(errors))
    result = diffing.diff(loaded[0], loaded[1], threshold)
    text = diffing.render_markdown(result)
    if out is not None:
        outputs = {out / "diff.md": text.encode(), out / "diff.json": json_text(result.to_json()).encode()}
        _refuse_overwriting_inputs(outputs, [old, new])
        for path, data in outputs.items():
            _write(path, data)
    return text, result.regressed


def _refuse_overwriting_inputs(outputs: dict[Path, bytes], inputs: list[str]) -> None:
    resolved = {Path(p).resolve() for p in inputs}
    for path in outputs:
        if path.resolve() in resolved:
            raise OutputError(f"{path}: is one of the input run files; choose another --out")


def _write(path: Path, data: bytes) -> None:
    try:
        write_bytes_atomic(path, data)
    except OSError as exc:
        raise OutputError(f"{path}: cannot write: {exc.strerror or exc}") from exc
