"""compressed-tensors through its own functions: ``calculate_qparams`` and the format's compressor.

compressed-tensors has no observer of its own (llm-compressor observes weights); ``quantize`` observes
each quantization unit's min and max as llm-compressor's min-max observer does (``observe_min_max``),
turns them into scales and zero points with compressed-tensors' ``calculate_qparams``, and compresses
with the registered compressor of the config's format (``compress``: quantize, pack); ``dequantize`` is
that compressor's ``decompress``.

Configs: transformers' ``CompressedTensorsConfig``, the twin's ``RefCompressedTensorsConfig`` or a plain
``quantization_config`` dict; one config group.
"""

from __future__ import annotations

from typing import Any

import torch

# fields of a quantization_config that are not compressed-tensors' own
_NOT_CT_FIELDS = ("modules_to_not_convert", "dequantize", "use_optimized_inference", "run_compressed")


def scheme_and_format(config: Any) -> tuple[Any, str]:
    """(QuantizationScheme of the config's one group, compression format), parsed by compressed-tensors."""
    from compressed_tensors.quantization import QuantizationConfig

    inner = getattr(config, "quantization_config", None)
    if inner is not None and not isinstance(inner, dict):  # transformers' CompressedTensorsConfig
        parsed = inner
    else:
        fields = dict(config) if isinstance(config, dict) else config.to_dict()
        fields = {k: v for k, v in fields.items() if k not in _NOT_CT_FIELDS}
        parsed = QuantizationConfig.model_validate(fields | {"quant_method": "compressed-tensors"})
    (scheme,) = parsed.config_groups.values()
    return scheme, str(getattr(scheme.format, "value", scheme.format) or parsed.format)


def observe_min_max(weight: torch.Tensor, args: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """Each unit's min and max, shaped like compressed-tensors' scale for the strategy (min-max observer)."""
    strategy = str(getattr(args.strategy, "value", args.strategy))
    if strategy == "tensor":
        return weight.amin().reshape(1), weight.amax().reshape(1)
    if strategy == "channel":
        return weight.amin(dim=-1, keepdim=True), weight.amax(dim=-1, keepdim=True)
    if strategy == "group":
        units = weight.unflatten(-1, (-1, args.group_size))
        return units.amin(dim=-1), units.amax(dim=-1)
    raise ValueError(f"no min-max observation for strategy {strategy!r}")


class CompressedTensorsCodec:
    def quantize(self, weight: torch.Tensor, config: Any) -> dict[str, torch.Tensor]:
        from compressed_tensors.compressors import BaseCompressor
        from compressed_tensors.quantization.utils import calculate_qparams

        scheme, fmt = scheme_and_format(config)
        scale, zero_point = calculate_qparams(*observe_min_max(weight, scheme.weights), scheme.weights)
        state = {"weight": weight, "weight_scale": scale, "weight_zero_point": zero_point}
        return dict(BaseCompressor.get_value_from_registry(fmt).compress(state, scheme))

    def dequantize(
        self, stored: dict[str, torch.Tensor], config: Any, shape: tuple[int, int], dtype: torch.dtype
    ) -> torch.Tensor:
        from compressed_tensors.compressors import BaseCompressor

        scheme, fmt = scheme_and_format(config)
        state = BaseCompressor.get_value_from_registry(fmt).decompress(dict(stored), scheme)
        return state["weight"].to(dtype)

    def unsupported(self, shape: tuple[int, int], dtype: torch.dtype, config: Any, device: str) -> str | None:
        scheme, _ = scheme_and_format(config)
        group_size = scheme.weights.group_size
        if str(getattr(scheme.weights.strategy, "value", scheme.weights.strategy)) == "group" and shape[1] % group_size:
            return f"compressed-tensors' group quantization needs in_features % {group_size} == 0, got {shape}"
        return None
