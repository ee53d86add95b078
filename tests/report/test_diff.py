"""--diff OLD NEW: what newly fails, newly passes, changed otherwise, and which figures moved."""

from __future__ import annotations

import json

import pytest

from qconform.cli import main
from tests.report.conftest import CPU, record, run_doc, write

NEWER = {**CPU, "packages": {**CPU["packages"], "bitsandbytes": "0.51.0"}}


def _pair(tmp_path):
    old = run_doc(
        [
            record("a", "test_keeps_passing", measured={"rel_error": 0.100}),
            record("a", "test_starts_failing"),
            record("a", "test_was_skipped", "skipped"),
            record("a", "test_gets_fixed", "failed"),
            record("a", "test_known", "xfailed"),
            record("a", "test_stops_running"),
            record("a", "test_error_moves", measured={"rel_error": 0.010, "max_abs": 1.0, "load_seconds": 0.06}),
            record("a", "test_goes_nan", measured={"rel_error": 0.5}),
            record("a", "test_removed"),
        ]
    )
    new = run_doc(
        [
            record("a", "test_keeps_passing", measured={"rel_error": 0.105}),
            record("a", "test_starts_failing", "failed"),
            record("a", "test_was_skipped", "passed"),
            record("a", "test_gets_fixed", "passed"),
            record("a", "test_known", "failed", reason="known deviation no longer happens: x"),
            record("a", "test_stops_running", "skipped"),
            record("a", "test_error_moves", measured={"rel_error": 0.020, "max_abs": 1.05, "load_seconds": 0.2}),
            record("a", "test_goes_nan", measured={"rel_error": "nan"}),
            record("a", "test_added", "error"),
        ],
        NEWER,
    )
    return str(write(tmp_path / "old.json", old)), str(write(tmp_path / "new.json", new))


def test_diff_sorts_changes_and_exits_1_on_newly_failing(tmp_path, capsys):
    old, new = _pair(tmp_path)
    out = tmp_path / "out"
    assert main(["report", "--diff", old, new, "--out", str(out)]) == 1
    printed = capsys.readouterr().out
    result = json.loads((out / "diff.json").read_text())
    assert (out / "diff.md").read_text() == printed
    checks = lambda key: sorted(c["check"] for c in result[key])  # noqa: E731
    assert checks("newly_failing") == ["test_added", "test_known", "test_starts_failing"]
    assert checks("newly_passing") == ["test_gets_fixed", "test_was_skipped"]
    assert [(c["check"], c["old"], c["new"]) for c in result["other_changes"]] == [
        ("test_stops_running", "passed", "skipped"),
        ("test_removed", "passed", "absent"),
    ]
    moved = {(m["check"], m["key"]): (m["old"], m["new"]) for m in result["moved"]}
    # load_seconds tripled: a timing, left out (two runs on a shared machine differ by more than any threshold)
    assert moved == {("test_error_moves", "rel_error"): (0.01, 0.02), ("test_goes_nan", "rel_error"): (0.5, "nan")}
    assert result["software"] == [{"name": "bitsandbytes", "old": "0.50.2", "new": "0.51.0"}]
    assert "3 newly failing, 2 newly passing, 2 other changes, 2 moved figures" in printed
    assert "| bitsandbytes | 0.50.2 | 0.51.0 |" in printed
    assert "| a | test_error_moves\\[a\\] | rel_error | 0.01 | 0.02 | x2 |" in printed


@pytest.mark.parametrize(("threshold", "moved"), [("0.01", 4), ("0.2", 2), ("2", 1)])
def test_threshold_decides_what_moved(tmp_path, capsys, threshold, moved):
    old, new = _pair(tmp_path)
    main(["report", "--diff", old, new, "--threshold", threshold])
    assert f"{moved} moved figures (threshold {float(threshold):g} relative)" in capsys.readouterr().out


def test_no_regression_exits_0_and_writes_nothing_without_out(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    same = str(write(tmp_path / "same.json", run_doc([record()])))
    assert main(["report", "--diff", same, same]) == 0
    assert "0 newly failing, 0 newly passing, 0 other changes, 0 moved figures" in capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["same.json"]


def test_diff_of_bad_files_names_both(tmp_path, capsys):
    bad = write(tmp_path / "bad.json", "{")
    assert main(["report", "--diff", str(bad), str(tmp_path / "nope.json")]) == 2
    err = capsys.readouterr().err
    assert f"{bad}: not JSON" in err and f"{tmp_path / 'nope.json'}: cannot read" in err


def test_negative_threshold_is_a_usage_error(tmp_path, capsys):
    same = str(write(tmp_path / "same.json", run_doc([record()])))
    assert main(["report", "--diff", same, same, "--threshold", "-1"]) == 2
    assert "--threshold must be a number >= 0" in capsys.readouterr().err
