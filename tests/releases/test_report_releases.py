"""The release dimension of ``qconform report``: a release x method table, transitions, deviations by release."""

from __future__ import annotations

import json

from qconform.cli import main
from qconform.report.merge import load_runs, merge
from qconform.report.releases import FIXED, HELD, NOT_RUN, release_series
from tests.report.conftest import CPU, H100, record, run_doc, write

DECLARED = "known deviation: rounds ties away (evidence: upstream issue)"


def _cpu(version: str) -> dict:
    return {**CPU, "packages": {**CPU["packages"], "transformers": version}}


def _runs(tmp_path) -> list[str]:
    """Three releases written out of order, and one GPU run that is no part of the series."""
    docs = {
        "5.25.0": [
            record("a", "test_steady", measured={"rel_error": 0.10}),
            record("a", "test_breaks", "failed"),
            record("a", "test_rounding", "failed", reason="known deviation no longer happens: " + DECLARED),
            record("b", "test_steady"),
        ],
        "5.17.0": [
            record("a", "test_steady", measured={"rel_error": 0.10}),
            record("a", "test_breaks"),
            record("a", "test_rounding", "xfailed", reason=DECLARED),
            record("b", "test_steady", "failed"),
        ],
        "5.20.0": [
            record("a", "test_steady", measured={"rel_error": 0.30}),
            record("a", "test_breaks"),
            record("a", "test_rounding", "xfailed", reason=DECLARED),
            record("b", "test_steady"),
        ],
    }
    paths = [str(write(tmp_path / f"t{v}.json", run_doc(r, _cpu(v)))) for v, r in docs.items()]
    paths.append(str(write(tmp_path / "gpu.json", run_doc([record("a", "test_steady")], H100))))
    return paths


def test_columns_of_one_machine_form_a_series_ordered_by_release(tmp_path):
    (series,) = release_series(merge(load_runs(_runs(tmp_path))))
    assert series.label == "cpu x86_64" and series.varied == ["transformers"]
    assert [series.heading[c] for c in series.order] == [
        "transformers 5.17.0",
        "transformers 5.20.0",
        "transformers 5.25.0",
    ]
    first, second = series.transitions
    assert [(c.target, c.check) for c in first.newly_passing] == [("b", "test_steady")]
    assert [(m.check, m.old, m.new) for m in first.moved] == [("test_steady", 0.10, 0.30)]
    assert sorted(c.check for c in second.newly_failing) == ["test_breaks", "test_rounding"]
    (deviation,) = series.deviations
    assert [deviation.states.get(c, NOT_RUN) for c in series.order] == [HELD, HELD, FIXED]
    assert deviation.reason == "rounds ties away (evidence: upstream issue)"
    assert deviation.verdict(series.order, series.heading) == "fixed in 5.25.0 (held in 5.17.0 to 5.20.0)"


def test_a_deviation_that_still_holds_says_where():
    from qconform.report.releases import Deviation

    order, heading = (
        ["x", "y", "z"],
        {"x": "transformers 5.17.0", "y": "transformers 5.20.0", "z": "transformers 5.25.0"},
    )
    assert (
        Deviation("a", "t", "r", {"x": HELD, "y": HELD, "z": HELD}).verdict(order, heading)
        == "holds in 5.17.0 to 5.25.0"
    )
    assert (
        Deviation("a", "t", "r", {"x": HELD, "y": FIXED, "z": HELD}).verdict(order, heading)
        == "holds in 5.17.0, 5.25.0; did not hold in 5.20.0"
    )
    assert Deviation("a", "t", "r", {"y": FIXED}).verdict(order, heading) == "fixed in 5.20.0"


def test_report_shows_the_series_in_markdown_html_and_json(tmp_path):
    out = tmp_path / "out"
    assert main(["report", *_runs(tmp_path), "--out", str(out)]) == 0
    text = (out / "report.md").read_text()
    assert "## Releases on cpu x86_64" in text
    assert "| method | origin | transformers 5.17.0 | transformers 5.20.0 | transformers 5.25.0 |" in text
    assert "| 5.20.0 | 5.25.0 | 2 | 0 | 0 | 1 | 2 |" in text  # from, to, failing, passing, other, moved, same
    assert "fixed in 5.25.0 (held in 5.17.0 to 5.20.0)" in text
    page = (out / "report.html").read_text()
    assert '<section id="releases">' in page and "fixed in 5.25.0" in page
    releases = json.loads((out / "report.json").read_text())["releases"]
    assert [c["heading"] for c in releases[0]["columns"]][-1] == "transformers 5.25.0"
    assert releases[0]["deviations"][0]["states"] == {
        "transformers 5.17.0": "held",
        "transformers 5.20.0": "held",
        "transformers 5.25.0": "fixed",
    }


def test_runs_of_one_release_each_machine_add_no_release_section(tmp_path):
    paths = [
        str(write(tmp_path / "cpu.json", run_doc([record()]))),
        str(write(tmp_path / "gpu.json", run_doc([record()], H100))),
    ]
    out = tmp_path / "out"
    assert main(["report", *paths, "--out", str(out)]) == 0
    assert "Releases" not in (out / "report.md").read_text()
    assert 'id="releases"' not in (out / "report.html").read_text()
    assert "releases" not in json.loads((out / "report.json").read_text())


def test_headings_name_other_packages_only_where_the_release_repeats(tmp_path):
    older = {**CPU, "packages": {**CPU["packages"], "transformers": "5.23.0", "accelerate": "1.15.0"}}
    newer = {**CPU, "packages": {**CPU["packages"], "transformers": "5.23.0", "accelerate": "1.16.0"}}
    newest = {**CPU, "packages": {**CPU["packages"], "transformers": "5.25.0", "accelerate": "1.16.0"}}
    paths = [
        str(write(tmp_path / f"{i}.json", run_doc([record()], env))) for i, env in enumerate((newest, newer, older))
    ]
    (series,) = release_series(merge(load_runs(paths)))
    assert series.varied == ["transformers", "accelerate"]
    assert [series.heading[c] for c in series.order] == [
        "transformers 5.23.0 · accelerate 1.15.0",
        "transformers 5.23.0 · accelerate 1.16.0",
        "transformers 5.25.0",
    ]
