"""Twin of AQLM (``aqlm``): additive codebooks, stored as the ``aqlm`` package's ``QuantizedLinear`` stores them.

The checkpoint names, shapes and dtypes (``codes``, ``codebooks``, ``scales``) are aqlm's, so a twin-written
checkpoint loads through transformers' own ``AqlmHfQuantizer`` and the other way round. The real method
only loads pre-quantized checkpoints; the twin also quantizes on the fly, with the simple learner of
``reference_quantizers.formats.additive_codebooks`` (greedy residual k-means, then least-squares scales).

Which Linears are quantized: when the config lists nothing (``modules_to_not_convert`` None and no
``linear_weights_not_to_quantize``), transformers' default skips apply (the output embedding stays full
precision). Otherwise every ``nn.Linear`` except those whose weight path is listed in
``linear_weights_not_to_quantize`` (``"lm_head.weight"``, as AQLM checkpoints list them) or whose module is
in ``modules_to_not_convert``: the real AqlmConfig means that (``from_real`` gives ``modules_to_not_convert=[]``,
so ``lm_head`` is quantized unless listed, as transformers' AQLM integration does). A Linear whose weight is
tied to another parameter is never converted.
"""

from __future__ import annotations

from typing import Any

import torch

from reference_quantizers.base import (
    Layout,
    ReferenceConfig,
    ReferenceLinear,
    ReferenceQuantizer,
    register_twin,
)
from reference_quantizers.formats import additive_codebooks as codebooks
from reference_quantizers.loading import QuantizeIntoModuleOp


class RefAqlmConfig(ReferenceConfig):
    KEY = "ref-aqlm"

    def __init__(
        self,
        in_group_size: int = 8,
        out_group_size: int = 1,
        num_codebooks: int = 1,
        nbits_per_codebook: int = 16,
        linear_weights_not_to_quantize: list[str] | None = None,
        modules_to_not_convert: list[str] | None = None,
        **kwargs: Any,
    ) -> None:
        self.in_group_size = in_group_size
        self.out_group_size = out_group_size
        self.num_codebooks = num_codebooks
        self.nbits_per_codebook = nbits_per_codebook
        self.linear_weights_not_to_quantize = list(linear_weights_not_to_quantize or [])
        super().__init__(modules_to_not_convert=modules_to_not_convert, **kwargs)

    def post_init(self) -> None:
        for name in ("in_group_size", "out_group_size", "num_codebooks"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        nbits = self.nbits_per_codebook
        if not isinstance(nbits, int) or isinstance(nbits, bool) or not 1 <= nbits <= 16:
            raise ValueError(f"nbits_per_codebook must be an integer in [1, 16], got {nbits!r}")
        if not all(isinstance(name, str) for name in self.linear_weights_not_to_quantize):
            raise ValueError(
                f"linear_weights_not_to_quantize must be a list of strings, got {self.linear_weights_not_to_quantize!r}"
            )

    @classmethod
    def from_real(cls, config: Any) -> RefAqlmConfig:
        """AqlmConfig quantizes every Linear but the listed weights (no default skips): say so explicitly."""
        fields = {k: v for k, v in config.to_dict().items() if k != "quant_method"}
        return cls(**{"modules_to_not_convert": [], **fields})

    def lists_skips(self) -> bool:
        """Whether this config says which Linears to skip; if not, transformers' default skips apply."""
        return self.modules_to_not_convert is not None or bool(self.linear_weights_not_to_quantize)

    def skipped_modules(self) -> list[str]:
        """Module names not to quantize: the listed weight paths without ``.weight``, and modules_to_not_convert."""
        weights = [name.removesuffix(".weight") for name in self.linear_weights_not_to_quantize]
        return weights + list(self.modules_to_not_convert or [])

    def element_bits(self) -> float:
        """Bits per weight spent on codes (codebooks and scales are a per-layer overhead)."""
        return self.num_codebooks * self.nbits_per_codebook / (self.in_group_size * self.out_group_size)


class RefAqlmLinear(ReferenceLinear):
    element_size = 0.25  # the 2x8 scheme's codes; RefAqlmQuantizer says it per config
    quantizes_into_module = True

    @classmethod
    def layout(cls, config: RefAqlmConfig, out_features: int, in_features: int) -> Layout:
        shapes = codebooks.layout(
            out_features,
            in_features,
            config.num_codebooks,
            config.nbits_per_codebook,
            config.in_group_size,
            config.out_group_size,
        )
        # codebooks and scales take the model's dtype (None), as in aqlm's QuantizedLinear
        code_dtype = codebooks.codes_dtype(config.nbits_per_codebook)
        return {name: (shape, code_dtype if kind == "codes" else None) for name, (shape, kind) in shapes.items()}

    @classmethod
    def quantize(cls, weight: torch.Tensor, config: RefAqlmConfig) -> dict[str, torch.Tensor]:
        return codebooks.quantize(
            weight, config.num_codebooks, config.nbits_per_codebook, config.in_group_size, config.out_group_size
        )

    def dequantize(self) -> torch.Tensor:
        return codebooks.dequantize(self.codes, self.codebooks, self.scales)

    @classmethod
    def unsupported(cls, shape: tuple[int, int], dtype: torch.dtype, config: RefAqlmConfig) -> str | None:
        out_features, in_features = shape
        if out_features % config.out_group_size or in_features % config.in_group_size:
            return (
                f"AQLM groups of {config.out_group_size}x{config.in_group_size} do not tile a "
                f"{out_features}x{in_features} weight"
            )
        return None


class RefAqlmQuantizer(ReferenceQuantizer):
    linear_class = RefAqlmLinear

    @property
    def quantized_element_size(self) -> float:
        return self.quantization_config.element_bits() / 8

    def get_quantize_ops(self) -> QuantizeIntoModuleOp:
        return QuantizeIntoModuleOp(self)

    def modules_to_skip(self, model: Any) -> list[str]:
        config = self.quantization_config
        listed = config.skipped_modules() if config.lists_skips() else None  # None: transformers' default skips
        return self.get_modules_to_not_convert(model, listed, model._keep_in_fp32_modules)


register_twin(RefAqlmConfig, RefAqlmQuantizer)
