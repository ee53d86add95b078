"""Markdown for CI summaries: the matrices, why cells are unsupported, failures; run text escaped."""

from __future__ import annotations

import re

from qconform.cli import main
from qconform.report.render_markdown import md
from tests.report.conftest import H100, PAYLOAD, malicious_doc, record, run_doc, write


def _markdown(tmp_path, *docs, env=None) -> str:
    paths = [str(write(tmp_path / f"run{i}.json", doc)) for i, doc in enumerate(docs)]
    assert main(["report", *paths, "--out", str(tmp_path / "out")]) == 0
    return (tmp_path / "out" / "report.md").read_text()


def test_matrices_notes_figures_and_failures(tmp_path):
    cpu = run_doc(
        [
            record("alpha", "test_a"),
            record("alpha", "test_b", "failed", family="numerics", measured={"rel_error": 0.25}),
            record("alpha", "test_c", "passed", family="numerics", measured={"rel_error": 0.5}),
            record("beta", "test_a", "skipped", reason="not installed here: amd-quark is not installed"),
            record("gamma", "test_a", "xfailed"),
        ]
    )
    gpu = run_doc([record("alpha", "test_a", measured={"rel_error": "nan"}, family="numerics")], H100)
    text = _markdown(tmp_path, cpu, gpu)
    hardware = text[text.index("## Hardware matrix") : text.index("## Software")]
    assert "| method | origin | cpu x86_64 | NVIDIA H100 80GB HBM3 sm_90 |" in hardware
    assert "| alpha | transformers | 🟡 2/3 | ✅ 1/1 |" in hardware
    assert "| beta | transformers | 📦 [1] | — |" in hardware
    assert "| gamma | transformers | ❌ 0/1 (1 known) | — |" in hardware
    assert "1. not installed here: amd-quark is not installed" in text
    software = text[text.index("## Software") : text.index("## Compatibility on cpu")]
    assert "| transformers | 5.23.0 | 5.17.0 |" in software
    assert "| amd-quark | missing | missing |" in software
    compat = text[text.index("## Compatibility on cpu x86_64") : text.index("## Compatibility on NVIDIA")]
    assert "| method | config | numerics |" in compat
    assert "| alpha | ✅ 1/1 | 🟡 1/2 |" in compat
    assert "![rel_error per method and environment](plots/measured-rel_error.png)" in text
    assert "| alpha | 0.5 (n=2) | NaN (n=1) |" in text  # the largest value; NaN counts as the worst
    failures = text[text.index("## Failures (1)") :]
    assert "| alpha | test_b | cpu x86_64 | failed | test_b broke | <code>pytest --quantizer=alpha -k" in failures


def test_run_text_cannot_add_markup(tmp_path):
    text = _markdown(tmp_path, malicious_doc())
    assert "<script" not in text and "<img" not in text and "<iframe" not in text
    assert "](javascript" not in text  # a link needs an unescaped ]
    assert "&lt;script&gt;window.\\_\\_pwned = 1&lt;/script&gt;" in text  # shown, as text
    # every table row has its header's cell count: no '|' from a run split a cell
    width = None
    for line in text.splitlines():
        if not line.startswith("|"):
            width = None
            continue
        cells = len(re.split(r"(?<!\\)\|", line)) - 2
        width = width or cells
        assert cells == width, line


def test_md_escapes_and_keeps_names_readable():
    assert md("bitsandbytes_4bit") == "bitsandbytes_4bit"
    assert md("_em_ *b* `c` [l](u) a|b <t> & $x$") == (
        "\\_em\\_ \\*b\\* \\`c\\` \\[l\\](u) a\\|b &lt;t&gt; &amp; \\$x\\$"
    )
    assert md("two\nlines") == "two lines"
    assert md("x" * 300, limit=10) == "x" * 9 + "…"
    assert md(PAYLOAD) == "&lt;script&gt;window.\\_\\_pwned = 1&lt;/script&gt;"


def test_github_step_summary_gets_the_markdown_appended(tmp_path, monkeypatch):
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    text = _markdown(tmp_path, run_doc([record(measured={"rel_error": 0.1})]))
    written = summary.read_text()
    assert written.startswith("earlier step\n# qconform compatibility report")
    assert "## Hardware matrix" in written
    assert "plots/measured-rel_error.png" in text
    assert "plots/" not in written  # image links do not resolve in a job summary
