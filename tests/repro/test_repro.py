"""``qconform repro``: records of the committed CPU run written as standalone scripts, and what they tell.

The scripts must import nothing of qconform or the reference twins (read from their syntax tree), and must
tell a deviation from a fix: a sample of the run's known deviations exits 1 here (they hold in this
environment, the one the run recorded), while the same generator fed a record whose contract holds (a passed
record of the same check, relabelled as a failure) writes a script that exits 0.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from qconform import cli
from qconform.repro.command import SelectionError, deviations, select, write_all
from qconform.repro.generate import covered_checks, script_for
from qconform.repro.inputs import NotReproducible
from qconform.repro.literals import Unwritable, write

REPO = Path(__file__).resolve().parents[2]
RUN = REPO / "reports" / "runs" / "cpu-x86_64.json"
DOC = json.loads(RUN.read_text())
FORBIDDEN = {"qconform", "reference_quantizers"}
TIMEOUT_S = 120
# known deviations of the run, cheap to run (config level, no model): (target, check, params)
HOLD_HERE = (
    ("sinq", "test_round_trip_idempotent", {}),
    ("fp8", "test_round_trip_keeps_types", {}),
    ("awq", "test_invalid_config_refused", {}),
    ("fp8", "test_merge_leaves_inputs_unchanged", {"form": "object"}),
)
# passed records of the same checks: the contract holds, so their scripts must say "fixed"
CONFORMING = (
    ("fp8", "test_round_trip_idempotent", {}),
    ("fp8", "test_merge_leaves_inputs_unchanged", {"form": "dict"}),
)


def _record(target: str, check: str, params: dict) -> dict:
    return select(DOC["records"], target=target, check=check, params={k: str(v) for k, v in params.items()})


def _imported(text: str) -> set[str]:
    """Top-level names of every module a script imports, wherever the import stands."""
    names = set()
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            names.add((node.module or "").split(".")[0] if node.level == 0 else ".")
    return names


def _allowed(target: str) -> set[str]:
    """The standard library, torch, transformers, safetensors, and the packages the spec requires."""
    from qconform.discovery.registry import load_registry

    spec = load_registry().specs.get(target)
    backends = {r.import_name.split(".")[0] for r in spec.requirements} if spec else set()
    return set(sys.stdlib_module_names) | {"torch", "transformers", "safetensors"} | backends


def _run(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(path)], capture_output=True, text=True, timeout=TIMEOUT_S, cwd=path.parent
    )


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    return write_all(DOC, str(RUN), tmp_path_factory.mktemp("repro"))


def test_every_deviation_is_written_or_refused_with_its_reason(written):
    records = deviations(DOC["records"])
    assert records, "the committed CPU run has no failed or xfailed record to reproduce"
    assert len(written.paths) + len(written.refused) + sum(written.uncovered.values()) == len(records)
    assert written.paths, "no script was written from the committed run's deviations"
    assert not set(written.uncovered) & set(covered_checks())
    for nodeid, why in written.refused:  # a covered check refused: the reason names what a script cannot do
        assert any(w in why for w in ("pre-quantized", "literal", "may not import", "missing")), (nodeid, why)
    for path in written.paths:
        compile(path.read_text(), str(path), "exec")


def test_scripts_import_neither_qconform_nor_the_twins(written):
    for path in written.paths:
        imported = _imported(path.read_text())
        assert not imported & FORBIDDEN, f"{path.name} imports {imported & FORBIDDEN}"
        target = path.name.split("-test_")[0]
        assert imported <= _allowed(target), f"{path.name} imports {imported - _allowed(target)}"


def test_the_import_check_sees_a_forbidden_import():
    """The parse above finds imports inside functions and try blocks too (a check that cannot fail is none)."""
    text = "import sys\ntry:\n    import torch\nexcept ImportError:\n    pass\ndef f():\n    from qconform import x\n"
    assert _imported(text) & FORBIDDEN == {"qconform"}


@pytest.mark.parametrize(("target", "check", "params"), HOLD_HERE, ids=lambda v: str(v))
def test_known_deviation_exits_1_here(tmp_path, target, check, params):
    record = _record(target, check, params)
    assert record["outcome"] == "xfailed"
    path = tmp_path / "repro.py"
    path.write_text(script_for(record, DOC, str(RUN)).text)
    result = _run(path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "deviation holds" in result.stdout


@pytest.mark.parametrize(("target", "check", "params"), CONFORMING, ids=lambda v: str(v))
def test_a_conforming_record_exits_0(tmp_path, target, check, params):
    record = dict(_record(target, check, params))
    assert record["outcome"] == "passed"
    record["outcome"] = "failed"  # planted: written as if it were a deviation
    path = tmp_path / "repro.py"
    path.write_text(script_for(record, DOC, str(RUN)).text)
    result = _run(path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "the contract holds" in result.stdout


def test_unknown_selector_is_a_clear_error(capsys):
    with pytest.raises(SelectionError, match="no record with target 'sinq', check 'test_nothing'"):
        select(DOC["records"], target="sinq", check="test_nothing")
    assert cli.main(["repro", str(RUN), "--record", "test_config.py::test_nothing[sinq]"]) == 2
    assert "no record with node id 'test_config.py::test_nothing[sinq]'" in capsys.readouterr().err


def test_ambiguous_selector_lists_the_matches():
    with pytest.raises(SelectionError, match=r"2 records match.*arch"):
        select(DOC["records"], target="sinq", check="test_save_reload_bit_identical")


def test_uncovered_check_names_it_and_the_kinds_covered(capsys):
    status = cli.main(["repro", str(RUN), "--target", "torchao", "--check", "test_finite_weights_give_finite_results"])
    err = capsys.readouterr().err
    assert status == 2
    assert "'test_finite_weights_give_finite_results' has no repro template" in err
    assert all(check in err for check in covered_checks())


def test_passed_record_is_not_a_deviation():
    record = _record("fp8", "test_round_trip_idempotent", {})
    with pytest.raises(NotReproducible, match="only failed and xfailed records"):
        script_for(record, DOC, str(RUN))


def test_prequantized_method_is_refused_with_the_reason():
    record = _record("gptq", "test_save_reload_bit_identical", {"arch": "llama"})
    with pytest.raises(NotReproducible, match="pre-quantized checkpoints that qconform writes with reference_"):
        script_for(record, DOC, str(RUN))


def test_cli_writes_the_script(tmp_path, capsys):
    out = tmp_path / "sinq.py"
    nodeid = "test_config.py::test_invalid_config_refused[sinq]"
    assert cli.main(["repro", str(RUN), "--record", nodeid, "--out", str(out)]) == 0
    text = out.read_text()
    assert nodeid in text and "INVALID = [" in text and "'nbits'" in text
    assert f"wrote {out}" in capsys.readouterr().out


def test_literals():
    import torch
    from transformers.utils.quantization_config import QuantizationMethod

    assert write(QuantizationMethod.SINQ).text == "'sinq'"  # a str-valued enum by value, not its repr
    assert (
        write({"a": (1,), "b": float("nan"), "c": torch.float16}).text
        == "{'a': (1,), 'b': float('nan'), 'c': torch.float16}"
    )
    with pytest.raises(Unwritable, match=r"builtins\.object"):
        write([object()])


def _configs_block(text: str) -> list[str]:
    start = text.index("CONFIGS = [\n") + len("CONFIGS = [\n")
    return [line.strip().rstrip(",") for line in text[start : text.index("\n]", start)].splitlines()]


def test_the_recorded_failing_example_is_written_first():
    """A record carrying its failing example's config (``inputs``) is reproduced with exactly that config, ahead of
    the spec's default and fixed-seed draws (a deviation that shows for a rare draw only would otherwise exit 0);
    a noted config that cannot be rebuilt here leaves the fallback configs as for an older record."""
    record = dict(_record("fp8", "test_round_trip_idempotent", {}), outcome="failed")
    fallback = _configs_block(script_for(record, DOC, str(RUN)).text)
    drawn = {"weight_block_size": {"__tuple__": [32, 64]}}
    fp8 = "transformers.utils.quantization_config:FineGrainedFP8Config"
    record["inputs"] = {"config": {"class": fp8, "kwargs": drawn}}
    text = script_for(record, DOC, str(RUN)).text
    assert _configs_block(text)[0] == "{'weight_block_size': (32, 64)}" and _configs_block(text)[1:] == fallback
    assert "the failing example's configs (as the run drew them)" in text
    for elsewhere in ("transformers:NoSuchConfig", "builtins:dict"):  # gone, or not a config class: never called
        record["inputs"] = {"config": {"class": elsewhere, "kwargs": drawn}}
        assert _configs_block(script_for(record, DOC, str(RUN)).text) == fallback
