"""Capabilities: what a spec declares agrees with what the quantizer says about itself.

A spec's capabilities are facts that override what qconform reads from the quantizer
(``qconform.discovery.probe``: ``is_serializable()``, ``is_trainable``, ``requires_calibration``, an overridden
``_dequantize``). Where the author states a fact the quantizer also answers, the two must agree: a spec that
contradicts its quantizer decides which checks run on a false premise, so the disagreement is a finding, with
the evidence, never silently trusted. What only a trial shows (determinism, needing an accelerator) is tried
by the checks that load models; bytes per element are compared by ``test_param_element_size``.
"""

from __future__ import annotations

import pytest

from qconform.discovery.probe import STATED
from qconform.support.assertions import expect


def disagreements(target) -> tuple[list[str], list[str]]:
    """(disagreements with their evidence, the facts compared) between ``target.declared`` and ``target.probed``."""
    declared, probed = target.declared, target.probed
    lines, compared = [], []
    for name, value in declared.promises.capabilities.stated().items():
        if name not in STATED or not probed.read(name):
            continue
        compared.append(name)
        found = getattr(probed.capabilities, name)
        if found != value:
            lines.append(f"{name}: the spec declares {value}, the quantizer says {found} ({probed.evidence[name]})")
    calibration = declared.promises.requires_calibration
    if calibration is not None:
        compared.append("requires_calibration")
        if calibration != probed.requires_calibration:
            lines.append(
                f"requires_calibration: the spec declares {calibration} ({probed.evidence['requires_calibration']})"
            )
    if declared.promises.capabilities.quantizes_on_the_fly and probed.requires_calibration:
        compared.append("quantizes_on_the_fly")
        lines.append(
            "quantizes_on_the_fly: the spec declares True, but HfQuantizer refuses pre_quantized=False for a method "
            f"that requires calibration ({probed.evidence['requires_calibration']})"
        )
    return lines, compared


def test_declared_capabilities_agree_with_the_quantizer(target):
    """Each capability the spec states, and its ``requires_calibration``, agree with what the quantizer says."""
    if target.declared is None:
        pytest.skip(f"{target.key} has no spec: every capability is read from the quantizer (nothing to compare)")
    lines, compared = disagreements(target)
    if not compared:
        unread = {n: target.probed.evidence[n] for n in sorted(target.probed.unread) if n in STATED}
        stated = sorted(target.declared.promises.capabilities.stated()) or "none"
        pytest.skip(
            f"the spec states nothing the quantizer answers here (stated: {stated})"
            + (f"; could not read: {unread}" if unread else "")
        )
    expect(not lines, "the spec contradicts what the quantizer says about itself", lines)
