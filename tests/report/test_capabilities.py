"""The capability matrix: each cell decided by the records of the checks that prove its feature, and only those."""

from __future__ import annotations

import re

import pytest

from qconform.cli import main
from qconform.report import readme
from qconform.report.capabilities import CAPABILITIES, ON_THE_FLY_ONLY, capability_matrices, verdict
from qconform.report.merge import Run, merge
from qconform.report.render_capabilities import cell_text, readme_block
from tests.conftest import REPO
from tests.report.conftest import H100, record, run_doc, write

MISSING = "not installed here: fouroversix is not installed (pip install fouroversix)"
REFUSED = "not supported on this hardware: fp8 runs on cuda only (spec devices)"
LACKS = "not applicable: alpha lacks dequantizable (as found out from the quantizer)"


def lifecycle(check: str, outcome: str = "passed", target: str = "alpha", device: str | None = "cpu", **fields):
    """A lifecycle record; ``arch`` tells variants apart (records with one node id are one check)."""
    arch = fields.pop("arch", "llama")
    nodeid = f"test_lifecycle.py::{check}[{target}-{device}-{arch}]"
    params = {"arch": arch}
    return record(target, check, outcome, family="lifecycle", device=device, params=params, nodeid=nodeid, **fields)


def cells(*records: dict, environment: dict | None = None) -> dict:
    """method -> feature -> verdict of the one environment the records make."""
    merged = merge([Run("r.json", "r.json", run_doc(list(records), environment))])
    (rows,) = capability_matrices(merged).values()
    return rows


def states(*records: dict, environment: dict | None = None) -> dict[str, str]:
    return {name: v.state for name, v in cells(*records, environment=environment)["alpha"].items()}


def test_a_passed_proving_check_gives_yes_and_names_its_record():
    got = cells(
        lifecycle("test_dequantize_matches_quantized"), lifecycle("test_dequantize_matches_quantized", arch="opt")
    )
    dequantizes = got["alpha"]["dequantizes"]
    assert dequantizes.state == "passed" and (dequantizes.cell.passed, dequantizes.cell.ran) == (2, 2)
    assert [r["check"] for r in dequantizes.records] == ["test_dequantize_matches_quantized"] * 2
    assert cell_text(dequantizes) == "✅ 2/2"


@pytest.mark.parametrize(
    ("outcomes", "state"),
    [
        (["passed", "failed"], "failed"),  # a pass beside it does not hide a failure
        (["crashed"], "failed"),
        (["passed", "xfailed"], "known"),
        (["xfailed", "error"], "failed"),
        (["passed", "skipped"], "passed"),  # a skip beside a pass does not count against it
    ],
)
def test_a_failed_proving_check_gives_failed_and_a_known_deviation_shows_as_such(outcomes, state):
    records = (lifecycle("test_backward_gives_finite_gradients", o, arch=f"a{i}") for i, o in enumerate(outcomes))
    assert states(*records)["trains"] == state


def test_a_missing_package_never_reads_as_not_supported():
    skips = [
        lifecycle("test_save_reload_bit_identical", "skipped", reason=REFUSED),
        lifecycle("test_save_reload_bit_identical", "skipped", reason=MISSING, arch="opt"),
        lifecycle("test_saved_config_keeps_every_argument", "skipped", reason="backend missing: sinq is not installed"),
    ]
    got = cells(*skips)["alpha"]["serializes"]
    assert got.state == "not_installed" and cell_text(got) == "📦"
    assert (
        states(lifecycle("test_backward_gives_finite_gradients", "skipped", reason=REFUSED))["trains"] == "unsupported"
    )
    assert states(lifecycle("test_dequantize_matches_quantized", "skipped", reason=LACKS))["dequantizes"] == (
        "not_applicable"
    )


def test_a_feature_with_no_proving_record_is_not_run():
    got = states(lifecycle("test_dequantize_matches_quantized"))  # on the CPU, but no model-running proof
    assert got == {c.name: "passed" if c.name == "dequantizes" else "not_run" for c in CAPABILITIES}
    assert cell_text(verdict([])) == "—"


def test_records_of_other_checks_devices_methods_or_variants_do_not_decide_a_cell():
    planted = [
        # passes when quantizer and spec agree the method does NOT serialize: no proof of serializing
        lifecycle("test_is_serializable_agrees_with_spec"),
        # a model-running check on CUDA proves nothing about the CPU
        lifecycle("test_forward_runs_deterministically", device="cuda"),
        # the dispatch's checkpoint path passes even where the backend is missing: no proof of loading
        record("alpha", "test_get_hf_quantizer_on_tiny_model", family="merge", params={"path": "checkpoint"}),
        # another method's pass
        lifecycle("test_save_reload_bit_identical", target="beta"),
    ]
    got = states(*planted)
    assert got["serializes"] == got["loads pre-quantized"] == got["CPU"] == "not_run"
    assert got["CUDA"] == "passed"
    assert states(*planted, lifecycle("test_save_reload_bit_identical", "failed"))["serializes"] == "failed"
    alone = cells(lifecycle("test_save_reload_bit_identical", target="beta"), lifecycle("test_a"))
    assert list(alone) == ["beta"]  # a method with no proving record has no row


def test_model_runs_prove_loading_pre_quantized_only_where_on_the_fly_did_not_apply():
    runs = [lifecycle("test_forward_runs_deterministically"), lifecycle("test_postprocess_marks_model")]
    from_checkpoints = lifecycle(ON_THE_FLY_ONLY, "skipped", reason="alpha loads calibrated checkpoints")
    got = cells(*runs, from_checkpoints)["alpha"]["loads pre-quantized"]
    assert got.state == "passed" and got.cell.ran == 2
    on_the_fly = lifecycle(ON_THE_FLY_ONLY)
    assert states(*runs, on_the_fly)["loads pre-quantized"] == "not_run"
    assert states(*runs, on_the_fly)["quantizes on the fly"] == "passed"
    missing = lifecycle(ON_THE_FLY_ONLY, "skipped", reason=MISSING)  # not installed says nothing of the path
    assert states(*runs, missing)["loads pre-quantized"] == "not_run"


def test_twins_and_records_of_no_method_are_left_out():
    twin = lifecycle("test_dequantize_matches_quantized", target="ref-alpha", origin="reference")
    orphan = record(None, "test_plugin_imports", "failed")
    got = cells(twin, orphan, lifecycle("test_dequantize_matches_quantized"))
    assert list(got) == ["alpha"]


def test_every_proof_names_a_check_of_the_suite():
    sources = "\n".join(p.read_text() for p in (REPO / "qconform" / "checks").glob("test_*.py"))
    defined = set(re.findall(r"^def (test_\w+)\(", sources, re.M))
    named = {p.check for c in CAPABILITIES for p in (*c.proofs, *c.from_checkpoint)} | {ON_THE_FLY_ONLY}
    assert named <= defined, named - defined


def test_report_and_readme_show_the_matrix_per_environment(tmp_path):
    cpu = run_doc([lifecycle("test_dequantize_matches_quantized")])
    gpu = run_doc([lifecycle("test_dequantize_matches_quantized", "skipped", device="cuda", reason=MISSING)], H100)
    paths = [str(write(tmp_path / "cpu.json", cpu)), str(write(tmp_path / "gpu.json", gpu))]
    target = tmp_path / "README.md"
    start, end = readme.markers(readme.CAPABILITIES)
    hw_start, hw_end = readme.markers(readme.HARDWARE)
    target.write_text(f"# T\n{hw_start}\nold\n{hw_end}\n\n{start}\nold capabilities\n{end}\nrest\n")
    assert main(["report", *paths, "--out", str(tmp_path / "out"), "--readme", str(target)]) == 0
    text = (tmp_path / "out" / "report.md").read_text()
    section = text[text.index("## Capability matrix") : text.index("## Software")]
    assert "### cpu x86_64" in section and "### NVIDIA H100 80GB HBM3 sm_90" in section
    assert "| alpha | transformers | — | — | — | ✅ 1/1 | — | — | — | — |" in section
    assert "| alpha | transformers | — | — | — | 📦 | — | — | — | — |" in section
    block = target.read_text()
    assert "old capabilities" not in block and block.endswith(f"{end}\nrest\n")
    assert "**cpu x86_64**" in block and "| alpha | transformers | — | — | — | ✅ 1/1 |" in block
    page = (tmp_path / "out" / "report.html").read_text()
    cell = re.search(r'<td class="cell passed"[^>]*data-column="cpu x86_64"[^>]*>yes 1/1</td>', page)
    assert cell and 'data-text="test_dequantize_matches_quantized"' in cell.group(0)
    assert "test_dequantize_matches_quantized[arch=llama] on cpu: passed" in cell.group(0)


def test_a_readme_without_the_capability_block_keeps_working_and_half_a_block_is_refused(tmp_path):
    merged = merge([Run("r.json", "r.json", run_doc([lifecycle("test_dequantize_matches_quantized")]))])
    block = readme_block(merged, capability_matrices(merged))
    hw_start, hw_end = readme.markers(readme.HARDWARE)
    plain = tmp_path / "PLAIN.md"
    plain.write_text(f"{hw_start}\nold\n{hw_end}\n")
    assert readme.updated(plain, {readme.HARDWARE: "new", readme.CAPABILITIES: block}) == f"{hw_start}\nnew\n{hw_end}\n"
    start, _ = readme.markers(readme.CAPABILITIES)
    half = tmp_path / "HALF.md"
    half.write_text(f"{hw_start}\nold\n{hw_end}\n{start}\n")
    with pytest.raises(readme.MarkerError, match="capability-matrix"):
        readme.updated(half, {readme.HARDWARE: "new", readme.CAPABILITIES: block})
