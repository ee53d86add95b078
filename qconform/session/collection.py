"""How checks are spread over targets and devices, and which variants are skipped or expected to fail.

Plain functions over specs and markers; ``qconform.session.hooks`` calls them from pytest's hooks.
Decisions follow declared capabilities and requirements, never a method's name.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import pytest

from qconform.discovery.targets import Target
from qconform.support import outcomes
from qconform.support.outcomes import NOT_APPLICABLE, NOT_INSTALLED, NOT_SUPPORTED

DEVICE_CHOICES = ("cpu", "cuda", "auto")


def resolve_devices(values: Iterable[str], look: bool = True) -> list[str]:
    """``auto`` (the default) means cpu, and cuda where a CUDA device is present (``look=False``: names are
    checked, ``auto`` is left out; an xdist controller that defers discovery does not import torch)."""
    names: list[str] = []
    for value in values or ["auto"]:
        for part in value.split(","):
            part = part.strip()
            if part not in DEVICE_CHOICES:
                raise ValueError(f"unknown device {part!r} for --qconform-device; choose from {DEVICE_CHOICES}")
            if part == "auto" and not look:
                expanded = []
            elif part == "auto":
                import torch

                expanded = ["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"]
            else:
                expanded = [part]
            names.extend(d for d in expanded if d not in names)
    return names


def required_capabilities(markers: Iterable[pytest.Mark]) -> tuple[str, ...]:
    return tuple(cap for mark in markers if mark.name == "qconform_requires" for cap in mark.args)


def target_skip_reason(target: Target, markers: Sequence[pytest.Mark]) -> str | None:
    """Why a check does not apply to this target, or None."""
    lacking = target.spec.promises.capabilities.lacking(required_capabilities(markers))
    if lacking:
        stated = target.declared.promises.capabilities.stated() if target.declared else {}
        source = "declared in its spec" if all(c in stated for c in lacking) else "as found out from the quantizer"
        return outcomes.reason(NOT_APPLICABLE, f"{target.key} lacks {', '.join(lacking)} ({source})")
    if any(mark.name == "qconform_backend" for mark in markers):
        missing = target.spec.missing_requirements()
        if missing:
            return outcomes.reason(NOT_INSTALLED, "; ".join(missing))
    return None


def device_skip_reason(target: Target, device: str, loads_models: bool = False) -> str | None:
    """Why this target's checks do not run on ``device``; ``loads_models``: a check that loads tiny models through
    the backend, which also runs where the spec asks for the dequantize fallback (``dequantizes_on``)."""
    import torch

    kind = device.split(":")[0]
    devices = target.spec.inputs.devices
    fallback = loads_models and dequantizes_on(target, kind)
    if kind not in devices and not fallback:
        return outcomes.reason(NOT_SUPPORTED, f"{target.key} runs on {', '.join(devices)} only (spec devices)")
    if kind == "cuda" and not torch.cuda.is_available():
        return outcomes.reason(NOT_SUPPORTED, "no CUDA device on this machine")
    if kind == "cpu" and target.spec.promises.capabilities.needs_accelerator and not fallback:
        return outcomes.reason(NOT_SUPPORTED, f"{target.key} needs an accelerator")
    return None


def dequantizes_on(target: Target, kind: str) -> bool:
    """Whether the spec loads its own checkpoints on this device kind through transformers' documented fallback
    (``prequantized_fallback="dequantize"`` and ``dequantize=True`` among its loading overrides there): the
    format is read even where its kernels cannot run, and the model that comes back is a plain one."""
    spec = target.spec
    return (
        spec.promises.prequantized_fallback == "dequantize"
        and spec.inputs.checkpoint_writer is not None
        and spec.loads_dequantized(kind)
    )


def _architectures(target: Target, per_arch: bool) -> list[tuple[str, ...]]:
    """The tiny architectures a per-architecture check runs on for this target (its spec's ``architectures``:
    a method that converts only some module kinds, or loads only some formats, names the ones that show it)."""
    return [(arch,) for arch in target.spec.inputs.architectures] if per_arch else [()]


def target_params(targets: Sequence[Target], markers: Sequence[pytest.Mark], per_arch: bool = False) -> list[Any]:
    """(target[, arch]) variants; ``per_arch`` for a check that takes the ``arch`` argument."""
    params = []
    for target in targets:
        reason = target_skip_reason(target, markers)
        marks = [pytest.mark.skip(reason=reason)] if reason else []
        for arch in _architectures(target, per_arch):
            params.append(pytest.param(target, *arch, id="-".join((target.key, *arch)), marks=marks))
    return params


def target_device_params(
    targets: Sequence[Target], devices: Sequence[str], markers: Sequence[pytest.Mark], per_arch: bool = False
) -> list[Any]:
    """(target, device[, arch]) variants, skipped with the reason where the target or device rules them out."""
    params = []
    loads_models = any(mark.name == "qconform_backend" for mark in markers)
    for target in targets:
        reason = target_skip_reason(target, markers)
        for device in devices:
            why = reason or device_skip_reason(target, device, loads_models)
            marks = [pytest.mark.skip(reason=why)] if why else []
            for arch in _architectures(target, per_arch):
                ident = "-".join((target.key, device, *arch))
                params.append(pytest.param(target, device, *arch, id=ident, marks=marks))
    return params


def deviation_marks(target: Target, check: str, param_id: str) -> list[pytest.MarkDecorator]:
    """One xfail mark for the known deviations of this variant (none: no mark).

    pytest obeys only the first xfail mark of an item, so deviations that meet on one variant (AQLM's float32
    refusal on CUDA and its tied-embedding error on OPT) become one mark: every reason; the union of the
    exceptions each pins (any exception where one pins none); strict only if each is."""
    found = target.spec.deviations_for(check, param_id)
    if not found:
        return []
    reason = "; ".join(f"known deviation: {d.reason} (evidence: {d.evidence})" for d in found)
    kwargs: dict[str, Any] = {"strict": all(d.strict for d in found), "reason": reason}
    if all(d.raises for d in found):
        kwargs["raises"] = tuple(dict.fromkeys(e for d in found for e in d.raises))
    return [pytest.mark.xfail(**kwargs)]
