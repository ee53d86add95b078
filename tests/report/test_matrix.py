"""Cells and merging: five states decided by counts; columns by machine and software; newest run wins."""

from __future__ import annotations

import pytest

from qconform.report.matrix import SKIP_STATES, cell_of, compatibility_matrices, hardware_matrix
from qconform.report.merge import NO_TARGET, Run, merge
from qconform.support.outcomes import kind_of
from tests.report.conftest import CPU, H100, record, run_doc


def _run(doc: dict, name: str = "r.json") -> Run:
    return Run(name, name, doc)  # the sha256 only tells files apart


@pytest.mark.parametrize(
    ("outcomes", "state", "passed", "ran"),
    [
        (["passed", "passed", "skipped"], "passed", 2, 2),
        (["passed", "failed", "crashed"], "partly", 1, 3),
        (["passed", "xfailed"], "partly", 1, 2),
        (["failed", "error", "timeout", "broken", "skipped"], "failed", 0, 4),
        (["xfailed"], "failed", 0, 1),
        (["skipped", "skipped"], "not_applicable", 0, 0),
        ([], "not_run", 0, 0),
    ],
)
def test_cell_states_follow_the_counts(outcomes, state, passed, ran):
    cell = cell_of(record(outcome=o) for o in outcomes)
    assert (cell.state, cell.passed, cell.ran) == (state, passed, ran)
    assert sum(cell.counts.values()) == len(outcomes)


def test_cells_that_ran_nothing_carry_their_reasons_most_frequent_first():
    cell = cell_of(
        [
            record(outcome="skipped", reason="not supported on this hardware: no accelerator"),
            record(outcome="skipped", reason="not supported on this hardware: needs CUDA"),
            record(outcome="skipped", reason="not supported on this hardware: needs CUDA"),
        ]
    )
    assert cell.state == "unsupported"
    assert [r.split(": ")[1] for r in cell.reasons] == ["needs CUDA", "no accelerator"]


@pytest.mark.parametrize(
    ("reasons", "state"),
    [
        (["not applicable: lacks trainable", "not installed here: x is not installed"], "not_installed"),
        (["not supported on this hardware: no CUDA device", "needs the network: kernels from a hub"], "needs_network"),
        (["not applicable: lacks trainable", "not supported on this hardware: no CUDA device"], "unsupported"),
        (["not applicable: lacks trainable"], "not_applicable"),
        (["backend missing: bitsandbytes is not installed (pip install bitsandbytes)"], "not_installed"),
        (["gguf needs a pre-quantized checkpoint and its spec names no checkpoint_writer"], "not_applicable"),
    ],
)
def test_a_cell_that_ran_nothing_names_the_first_kind_of_skip(reasons, state):
    """Not installed is never called not supported: the kind a skip reason names decides, in a fixed order."""
    cell = cell_of(record(outcome="skipped", reason=r) for r in reasons)
    assert cell.state == state
    assert kind_of(cell.reasons[0]) == next(k for k, s in SKIP_STATES.items() if s == state)


def test_hardware_and_compatibility_matrices_over_any_family():
    cpu = run_doc(
        [
            record("alpha", "test_a", family="config"),
            record("alpha", "test_b", "failed", family="numerics", measured={"rel_error": 0.5}),
            record("beta", "test_a", "skipped", family="config", reason="not supported on this hardware: needs CUDA"),
            record("beta", "test_z", family="brand_new_family"),
            record(None, "test_plugin_imports", "failed", family="discovery"),
        ]
    )
    gpu = run_doc([record("alpha", "test_a", family="config")], H100)
    merged = merge([_run(cpu, "cpu.json"), _run(gpu, "gpu.json")])
    assert [c.name for c in merged.columns] == ["cpu x86_64", "NVIDIA H100 80GB HBM3 sm_90"]
    # the design's families first, then any other alphabetically
    assert merged.families == ["config", "numerics", "brand_new_family", "discovery"]
    assert [t for t, _ in merged.targets] == ["alpha", "beta", NO_TARGET]

    hardware = hardware_matrix(merged)
    assert hardware["alpha"]["cpu x86_64"].state == "partly"
    assert hardware["alpha"]["NVIDIA H100 80GB HBM3 sm_90"].state == "passed"
    assert hardware["beta"]["NVIDIA H100 80GB HBM3 sm_90"].state == "not_run"
    assert hardware[NO_TARGET]["cpu x86_64"].state == "failed"

    compat = compatibility_matrices(merged)["cpu x86_64"]
    assert compat["alpha"]["config"].state == "passed"
    assert compat["alpha"]["numerics"].state == "failed"
    assert compat["beta"]["config"].state == "unsupported"
    assert compat["beta"]["config"].reasons == ("not supported on this hardware: needs CUDA",)
    assert compat["beta"]["brand_new_family"].state == "passed"
    assert compat["beta"]["numerics"].state == "not_run"


def test_same_machine_same_software_share_a_column_and_the_newest_record_wins():
    old = run_doc([record("alpha", "test_a", "failed"), record("beta")], finished="2026-01-01T00:00:00+00:00")
    new = run_doc([record("alpha", "test_a", "passed")], finished="2026-01-02T00:00:00+00:00")
    for runs in ([_run(old, "old.json"), _run(new, "new.json")], [_run(new, "new.json"), _run(old, "old.json")]):
        merged = merge(runs)
        assert [c.name for c in merged.columns] == ["cpu x86_64"]
        outcomes = {r["target"]: (r["outcome"], r["source"]) for r in merged.records}
        assert outcomes == {"alpha": ("passed", "new.json"), "beta": ("passed", "old.json")}
        assert merged.superseded == {"old.json": 1}


def test_same_machine_other_software_gets_a_column_named_by_what_differs():
    newer = {**CPU, "packages": {**CPU["packages"], "transformers": "5.24.0", "bitsandbytes": None}}
    merged = merge([_run(run_doc([record()]), "a.json"), _run(run_doc([record()], newer), "b.json")])
    assert [c.name for c in merged.columns] == [
        "cpu x86_64 · transformers 5.23.0, bitsandbytes 0.50.2",
        "cpu x86_64 · transformers 5.24.0, bitsandbytes missing",
    ]
    assert len(merged.records) == 2


def test_runs_started_in_other_directories_match_by_node_id_tail():
    a = record("alpha", nodeid="checks/test_config.py::test_a[alpha]", outcome="failed")
    b = record("alpha", nodeid="/somewhere/else/test_config.py::test_a[alpha]", outcome="passed")
    merged = merge([_run(run_doc([a], finished="1"), "a.json"), _run(run_doc([b], finished="2"), "b.json")])
    assert [r["outcome"] for r in merged.records] == ["passed"]


def test_cell_note_says_what_the_fraction_leaves_out():
    cell = cell_of(record(outcome=o) for o in ["passed", "xfailed", "skipped", "skipped"])
    assert (cell.passed, cell.ran, cell.note()) == (1, 2, " (1 known, 2 skipped)")
    assert cell_of([record()]).note() == ""
