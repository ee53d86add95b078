"""Twin of GPTQ (``gptq``): calibrated int2/3/4/8 weights stored as gptqmodel 7.6 writes them.

Checkpoint tensors per quantized Linear (names, shapes and dtypes as gptqmodel's): ``qweight``
int32 (in * bits / 32, out), ``qzeros`` int32 (groups, out * bits / 32), ``scales`` fp16 (groups,
out), ``g_idx`` int32 (in,). ``format`` "gptq" (v1) stores zero points minus one, "gptq_v2" as they
are. Only the Linears of the decoder blocks are quantized, as optimum does.

Quantizing on the fly calibrates for real: after the full-precision weights load, the model runs on
calibration tokens and GPTQ quantizes its layers one by one (``reference_quantizers.calibration.gptq``).
``dataset`` is a list of token-id lists; when it is None, 8 sequences of 32 seeded random tokens
(``Calibration()``): offline there is no text to tokenize.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn
from transformers.core_model_loading import ConversionOps

from reference_quantizers.base import Layout, ReferenceConfig, ReferenceLinear, ReferenceQuantizer, register_twin
from reference_quantizers.calibration.install import install
from reference_quantizers.formats import gptq as gptq_numerics

FORMATS = ("gptq", "gptq_v2")


class RefGptqConfig(ReferenceConfig):
    KEY = "ref-gptq"
    #: GPTQConfig fields that describe the stored format and the algorithm (the others are loading knobs)
    REAL_FIELDS: ClassVar[tuple[str, ...]] = (
        "bits",
        "group_size",
        "damp_percent",
        "desc_act",
        "act_group_aware",
        "sym",
        "true_sequential",
        "format",
    )

    def __init__(
        self,
        bits: int = 4,
        group_size: int = 128,
        damp_percent: float = 0.1,
        desc_act: bool = False,
        act_group_aware: bool = True,
        sym: bool = True,
        true_sequential: bool = True,
        format: str = "gptq",
        dataset: list[list[int]] | None = None,
        modules_to_not_convert: list[str] | None = None,
        **kwargs: Any,
    ) -> None:
        self.bits = bits
        self.group_size = group_size
        self.damp_percent = damp_percent
        self.desc_act = desc_act
        self.act_group_aware = act_group_aware and not desc_act  # as GPTQConfig: act-order wins
        self.sym = sym
        self.true_sequential = true_sequential
        self.format = str(kwargs.pop("checkpoint_format", None) or format).lower()
        self.dataset = dataset
        super().__init__(modules_to_not_convert=modules_to_not_convert, **kwargs)

    @classmethod
    def from_real(cls, config: Any) -> RefGptqConfig:
        fields = config.to_dict()
        return cls(**{name: fields[name] for name in cls.REAL_FIELDS if name in fields})

    def to_real_dict(self) -> dict[str, Any]:
        """The ``quantization_config`` a real ``gptq`` checkpoint with these tensors carries."""
        from transformers import GPTQConfig

        return GPTQConfig(**{name: getattr(self, name) for name in self.REAL_FIELDS}).to_dict()

    def post_init(self) -> None:
        if self.bits not in (2, 3, 4, 8):
            raise ValueError(f"bits must be 2, 3, 4 or 8, got {self.bits!r}")
        if not isinstance(self.group_size, int) or (self.group_size != -1 and self.group_size <= 0):
            raise ValueError(f"group_size must be -1 or a positive integer, got {self.group_size!r}")
        if not 0 < self.damp_percent < 1:
            raise ValueError(f"damp_percent must be in (0, 1), got {self.damp_percent!r}")
        if self.format not in FORMATS:
            raise ValueError(f"format must be one of {FORMATS}, got {self.format!r}")
        if self.dataset is not None and not (
            isinstance(self.dataset, list) and all(isinstance(row, list) and row for row in self.dataset)
        ):
            raise ValueError("dataset must be None or a list of non-empty token-id lists")

    def gptq_params(self) -> gptq_numerics.GptqParams:
        return gptq_numerics.GptqParams(
            bits=self.bits,
            group_size=self.group_size,
            sym=self.sym,
            desc_act=self.desc_act,
            act_group_aware=self.act_group_aware,
            damp_percent=self.damp_percent,
        )

    def groups(self, in_features: int) -> int:
        return 1 if self.group_size == -1 else -(-in_features // self.group_size)

    def calibration_batches(self, vocab_size: int) -> list[torch.Tensor]:
        from reference_quantizers.calibration.data import Calibration

        if self.dataset is None:
            return Calibration().batches(vocab_size)
        return [torch.tensor([row], dtype=torch.long) for row in self.dataset]


class RefGptqLinear(ReferenceLinear):
    element_size = 0.5 + 2.5 / 128  # 4-bit, group 128: codes, fp16 scales and packed zeros per weight

    @classmethod
    def layout(cls, config: RefGptqConfig, out_features: int, in_features: int) -> Layout:
        groups, bits = config.groups(in_features), config.bits
        return {
            "qweight": ((in_features * bits // 32, out_features), torch.int32),
            "qzeros": ((groups, out_features * bits // 32), torch.int32),
            "scales": ((groups, out_features), torch.float16),
            "g_idx": ((in_features,), torch.int32),
        }

    @classmethod
    def quantize(
        cls, weight: torch.Tensor, config: RefGptqConfig, calibration: list[torch.Tensor] | None = None
    ) -> dict[str, torch.Tensor]:
        """GPTQ of one weight; without calibration inputs, on the fixed ``synthetic_inputs`` set."""
        from qconform.inputs.activations import synthetic_inputs

        inputs = calibration if calibration is not None else synthetic_inputs(weight.shape[1], device=weight.device)
        h = gptq_numerics.hessian(inputs, weight.shape[1], device=weight.device)
        result = gptq_numerics.quantize(weight, h, config.gptq_params())
        return gptq_numerics.pack_gptq(result, config.bits, config.format)

    def dequantize(self) -> torch.Tensor:
        return gptq_numerics.dequantize_gptq(self.stored(), self.config.bits, self.config.format)

    @classmethod
    def unsupported(cls, shape: tuple[int, int], dtype: torch.dtype, config: RefGptqConfig) -> str | None:
        out_features, in_features = shape
        if in_features % 32 or out_features % 32:
            return f"GPTQ packs whole 32-row words: in and out features must be multiples of 32, got {shape}"
        return None


class RefGptqQuantizer(ReferenceQuantizer):
    linear_class = RefGptqLinear

    @property
    def quantized_element_size(self) -> float:
        config = self.quantization_config
        group = 128 if config.group_size == -1 else config.group_size
        return config.bits / 8 + (2 + config.bits / 8) / group

    def _targets(self, model: nn.Module) -> set[str]:
        """The Linears this quantizer quantizes: the decoder blocks' (as optimum), minus the skipped ones."""
        from reference_quantizers.calibration.capture import block_linears

        cached = getattr(self, "_target_names", None)
        if cached is not None and cached[0] is model:
            return cached[1]
        skip = self.get_modules_to_not_convert(
            model, self.quantization_config.modules_to_not_convert, getattr(model, "_keep_in_fp32_modules", None)
        )
        self._target_names = (model, set(block_linears(model, skip)))
        return self._target_names[1]

    def param_needs_quantization(self, model: Any, param_name: str, **kwargs: Any) -> bool:
        if self.pre_quantized or not param_name.endswith(".weight"):
            return False
        return param_name.removesuffix(".weight") in self._targets(model)

    def get_quantize_ops(self) -> ConversionOps:
        return KeepForCalibration()

    def _process_model_before_weight_loading(self, model: Any, **kwargs: Any) -> Any:
        self.modules_to_not_convert = self.get_modules_to_not_convert(
            model, self.quantization_config.modules_to_not_convert, model._keep_in_fp32_modules
        )
        if self.pre_quantized:
            install(model, RefGptqLinear, self.quantization_config, sorted(self._targets(model)))
        return model

    def _process_model_after_weight_loading(self, model: Any, **kwargs: Any) -> Any:
        if not self.pre_quantized:
            from reference_quantizers.calibration.gptq import quantize_model

            config = self.quantization_config
            names = sorted(self._targets(model))
            stored = quantize_model(model, config, config.calibration_batches(model.config.vocab_size), names)
            install(model, RefGptqLinear, config, names, stored)
        return model


class KeepForCalibration(ConversionOps):
    """On the fly, a weight to quantize loads as it is: GPTQ needs the whole model loaded to calibrate."""

    def convert(
        self, input_dict: dict[str, Any], full_layer_name: str | None = None, **kwargs: Any
    ) -> dict[str, torch.Tensor]:
        (key, value), *_ = input_dict.items()
        return {full_layer_name or key: value[0] if isinstance(value, list) else value}


register_twin(RefGptqConfig, RefGptqQuantizer)
