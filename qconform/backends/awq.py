"""AWQ's GEMM format through AutoAWQ's own functions (``awq`` 0.2.9, the last release; archived upstream).

AutoAWQ is installed with ``pip install --no-deps autoawq==0.2.9``: its full dependency set pulls triton,
which nothing here needs. ``awq.quantize.quantizer`` imports ``datasets`` (through ``awq.utils.calib_data``),
so the codec imports it when it is made: without datasets the codec checks skip with that reason.
transformers 5.x loads AWQ checkpoints through gptqmodel, whose GEMM layout is the same (checked in
tests/reference/test_awq.py).

``quantize`` is AWQ's last step, round to nearest with zero points (``pseudo_quantize_tensor``) and
packing (``WQLinear_GEMM.from_linear``); the activation-aware scales are a whole-model step that
changes the weights before it (see ``reference_quantizers.calibration.awq``).
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import torch


def _group(config: Any, in_features: int) -> int:
    return in_features if config.group_size == -1 else config.group_size


class AutoAwqCodec:
    def __init__(self) -> None:
        from awq.modules.linear.gemm import WQLinear_GEMM  # noqa: F401 - a missing dependency shows here, as a skip
        from awq.quantize.quantizer import AwqQuantizer  # noqa: F401

    def quantize(self, weight: torch.Tensor, config: Any) -> dict[str, torch.Tensor]:
        from awq.modules.linear.gemm import WQLinear_GEMM
        from awq.quantize.quantizer import AwqQuantizer

        group = _group(config, weight.shape[1])
        # pseudo_quantize_tensor reads only these three attributes of its quantizer
        settings = SimpleNamespace(group_size=group, zero_point=config.zero_point, w_bit=config.bits)
        values, scales, zeros = AwqQuantizer.pseudo_quantize_tensor(settings, weight.detach().clone())
        linear = torch.nn.Linear(weight.shape[1], weight.shape[0], bias=False, device=weight.device, dtype=weight.dtype)
        linear.weight.data = values
        packed = WQLinear_GEMM.from_linear(
            linear, config.bits, group, scales=scales.t().contiguous(), zeros=zeros.t().contiguous()
        )
        return {name: getattr(packed, name).to(weight.device) for name in ("qweight", "qzeros", "scales")}

    def dequantize(
        self, stored: dict[str, torch.Tensor], config: Any, shape: tuple[int, int], dtype: torch.dtype
    ) -> torch.Tensor:
        from awq.utils.packing_utils import dequantize_gemm

        group = _group(config, shape[1])
        weight = dequantize_gemm(stored["qweight"], stored["qzeros"], stored["scales"], config.bits, group)
        return weight.T.to(dtype)

    def unsupported(self, shape: tuple[int, int], dtype: torch.dtype, config: Any, device: str) -> str | None:
        out_features, in_features = shape
        if not config.zero_point:
            return "AutoAWQ's WQLinear_GEMM packs zero points: zero_point=False has no GEMM layout"
        if str(getattr(config, "format", "gemm")).lower() != "gemm":
            return f"this codec writes the GEMM layout, not {config.format!r}"
        if config.bits != 4:
            return f"AutoAWQ's GEMM layout is 4-bit only, got bits={config.bits}"
        if out_features % 8:
            return f"AutoAWQ packs 8 output columns per int32: out_features must be a multiple of 8, got {shape}"
        if out_features % 32:
            # the GEMM layout takes any multiple of 8 (WQLinear_GEMM.__init__ sizes qweight out // 8, and the
            # twin packs it), but AutoAWQ 0.2.9's packer sizes it out // 32 * 4 (awq/modules/linear/gemm.py:213)
            # and runs past the end (IndexError) when out_features is not a multiple of 32
            return f"AutoAWQ's WQLinear_GEMM.from_linear packs out_features that are multiples of 32 only, got {shape}"
        if in_features % _group(config, in_features):
            return f"AutoAWQ needs in_features divisible by group_size {config.group_size}, got {shape}"
        return None
