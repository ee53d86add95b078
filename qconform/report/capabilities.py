"""The capability matrix: what each method can do in each environment, derived from the checks that prove it.

Shaped like the overview table of transformers' quantization docs (method x feature), but measured: a cell
says yes only where a check that proves the feature ran and passed there. Which checks prove which feature
is data (``CAPABILITIES``), apart from the logic that reads the records (``verdict``).

Rows are the methods of transformers' dispatch (and plugins' methods), in the report's order. Reference
twins are left out: they are the kit's readable copies of those methods, not methods a user picks, and
the hardware and compatibility matrices show them.

A cell is decided by the records of its feature's proving checks, for that method in that environment:

- ``passed``: every proving record that ran passed (skips beside them do not count against it);
- ``known``: none failed, and at least one is a declared known deviation (xfailed);
- ``failed``: one failed, errored, crashed, timed out or broke;
- nothing ran: the kind of skip, read as the hardware matrix reads it (``qconform.support.outcomes``):
  ``not_installed``, ``needs_network``, ``unsupported``, ``not_applicable`` (the method lacks the feature);
  a missing package is never shown as unsupported;
- ``not_run``: no proving record.

A lifecycle record does not say whether its model was quantized on the fly or loaded from a pre-quantized
checkpoint (the spec's writer's). ``qconform.support.lifecycle.load`` loads every model of a method from
such a checkpoint when it does not quantize on the fly, which ``ON_THE_FLY_ONLY`` shows: that check runs
only on the on-the-fly path and is skipped as not applicable otherwise. So "loads pre-quantized" counts the
reload after ``save_pretrained`` everywhere, and the model-running checks (``Capability.from_checkpoint``)
where that check was skipped as not applicable. The dispatch-level checks (``get_hf_quantizer`` on either
path) prove nothing here: they pass where the backend is not even installed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from qconform.report.matrix import PROBLEMS, Cell, cell_of, target_of
from qconform.report.merge import NO_TARGET, Merged
from qconform.support.outcomes import NOT_APPLICABLE, kind_of

LEFT_OUT_ORIGINS = ("reference",)  # twins: see the module docstring


@dataclass(frozen=True)
class Proof:
    """Records of ``check`` whose params include every (name, value) of ``params``."""

    check: str
    params: tuple[tuple[str, Any], ...] = ()

    def matches(self, record: Mapping[str, Any]) -> bool:
        return record["check"] == self.check and all(record["params"].get(k) == v for k, v in self.params)

    def describe(self) -> str:
        return self.check + "".join(f"[{k}={v}]" for k, v in self.params)


@dataclass(frozen=True)
class Capability:
    """One column: a feature, the checks whose records prove it, on which device kind (None: any), and the
    checks that prove it too where the method's models come from pre-quantized checkpoints."""

    name: str
    proofs: tuple[Proof, ...]
    why: str  # what a passing proof shows, for legends and tooltips
    device: str | None = None
    from_checkpoint: tuple[Proof, ...] = ()

    def proves(self, record: Mapping[str, Any], loads_checkpoints: bool = False) -> bool:
        """Whether ``record`` decides this column (``loads_checkpoints``: the method's models come from
        pre-quantized checkpoints in that environment, see ``loads_checkpoints``)."""
        if self.device is not None and str(record["device"] or "").split(":")[0] != self.device:
            return False
        proofs = self.proofs + (self.from_checkpoint if loads_checkpoints else ())
        return any(proof.matches(record) for proof in proofs)


SAVE_RELOAD = Proof("test_save_reload_bit_identical")
SAVED_CONFIG = Proof("test_saved_config_keeps_every_argument")
# runs only where the method quantizes on the fly; skipped as not applicable where its models are loaded from
# pre-quantized checkpoints (qconform/checks/test_lifecycle.py: qconform_requires and _needs_on_the_fly)
ON_THE_FLY_ONLY = "test_keep_in_fp32_modules_stay_full_precision"
RUNS_A_MODEL = (
    Proof("test_postprocess_marks_model"),
    Proof("test_forward_runs_deterministically"),
    Proof("test_logits_drift_vs_full_precision"),
)

# feature -> the checks that prove it (qconform/checks/test_lifecycle.py, test_numerics.py, test_multi_gpu.py).
# test_is_serializable_agrees_with_spec proves nothing here: it also passes when the quantizer and the spec
# agree that the method does not serialize.
CAPABILITIES = (
    Capability(
        "quantizes on the fly",
        (Proof("test_skip_list_respected"), Proof(ON_THE_FLY_ONLY)),
        "from_pretrained with a quantization_config quantizes a full-precision model, the right modules",
    ),
    Capability(
        "loads pre-quantized",
        (SAVE_RELOAD, SAVED_CONFIG),
        "a saved quantized checkpoint loads back the same; where the method does not quantize on the fly, its "
        "models load from pre-quantized checkpoints, run and stay accurate",
        from_checkpoint=RUNS_A_MODEL,
    ),
    Capability(
        "serializes",
        (SAVE_RELOAD, SAVED_CONFIG),
        "save_pretrained then from_pretrained gives the same logits and the same config",
    ),
    Capability(
        "dequantizes",
        (Proof("test_dequantize_matches_quantized"),),
        "model.dequantize() leaves plain Linear modules and the same logits",
    ),
    Capability(
        "trains",
        (Proof("test_backward_gives_finite_gradients"),),
        "a backward pass gives finite gradients through the quantized layers",
    ),
    Capability("CPU", RUNS_A_MODEL, "a quantized model loads, runs and stays accurate on the CPU", device="cpu"),
    Capability("CUDA", RUNS_A_MODEL, "a quantized model loads, runs and stays accurate on CUDA", device="cuda"),
    Capability(
        "multi-GPU",
        (Proof("test_split_over_two_gpus_matches_one"),),
        "a model split over two GPUs gives the logits of one",
    ),
)
STATES = ("passed", "known", "failed", "not_installed", "needs_network", "unsupported", "not_applicable", "not_run")


@dataclass(frozen=True)
class Verdict:
    """One cell: its state, the counts of the records that decide it, and those records."""

    state: str
    cell: Cell
    records: tuple[dict[str, Any], ...]

    @property
    def ran(self) -> bool:
        return self.state in ("passed", "known", "failed")


_ORDER = (*PROBLEMS, "xfailed", "passed", "skipped")


def _deciding_first(record: Mapping[str, Any]) -> tuple[int, str, str]:
    """Problems, then known deviations, passes and skips (how a cell's title lists its records)."""
    outcome = record["outcome"]
    return (_ORDER.index(outcome) if outcome in _ORDER else 0, record["check"], record["nodeid"])


def verdict(records: Iterable[Mapping[str, Any]]) -> Verdict:
    """The cell of one feature from its proving records (already chosen by ``Capability.proves``)."""
    records = tuple(sorted((dict(r) for r in records), key=_deciding_first))
    cell = cell_of(records)
    if cell.problems:
        state = "failed"
    elif cell.counts.get("xfailed"):
        state = "known"
    elif cell.passed:
        state = "passed"
    else:
        state = cell.state  # a kind of skip, or not_run
    return Verdict(state, cell, records)


def loads_checkpoints(records: Iterable[Mapping[str, Any]]) -> bool:
    """Whether one method's records in one environment show its models loaded from pre-quantized
    checkpoints: ``ON_THE_FLY_ONLY`` was skipped there, as not applicable, every time."""
    marks = [r for r in records if r["check"] == ON_THE_FLY_ONLY]
    return bool(marks) and all(r["outcome"] == "skipped" and kind_of(r["reason"]) == NOT_APPLICABLE for r in marks)


def shown_targets(merged: Merged) -> list[tuple[str, str | None]]:
    """(key, origin) of the rows: every method but the reference twins and records of no method."""
    return [(key, origin) for key, origin in merged.targets if key != NO_TARGET and origin not in LEFT_OUT_ORIGINS]


def capability_matrices(
    merged: Merged, capabilities: tuple[Capability, ...] = CAPABILITIES
) -> dict[str, dict[str, dict[str, Verdict]]]:
    """column -> method -> feature -> verdict; a method with no proving record in a column is left out there."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for record in merged.records:
        groups.setdefault((record["column"], target_of(record)), []).append(record)
    out: dict[str, dict[str, dict[str, Verdict]]] = {}
    for column in merged.columns:
        rows = {}
        for key, _ in shown_targets(merged):
            records = groups.get((column.name, key), [])
            checkpoints = loads_checkpoints(records)
            row = {c.name: verdict(r for r in records if c.proves(r, checkpoints)) for c in capabilities}
            if any(v.state != "not_run" for v in row.values()):
                rows[key] = row
        out[column.name] = rows
    return out


def describe_record(record: Mapping[str, Any]) -> str:
    """One line naming a deciding record: check, variant, device, outcome and, if any, why."""
    params = ",".join(f"{k}={v}" for k, v in sorted(record["params"].items()))
    line = record["check"] + (f"[{params}]" if params else "") + (f" on {record['device']}" if record["device"] else "")
    line += f": {record['outcome']}"
    why = record["reason"] or (record["message"] if record["outcome"] != "passed" else None)
    if why:
        line += f" ({' '.join(str(why).split())[:140]})"
    return line
