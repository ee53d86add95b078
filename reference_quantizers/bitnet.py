"""Twin of BitNet (``bitnet``): ternary weights packed four to a byte, per-token int8 activations.

transformers only loads pre-quantized BitNet checkpoints; the twin also quantizes on the fly
(absmean ternarization, as transformers' ``WeightQuant``) and writes checkpoints in the format of
``BitLinear`` (``linear_class="bitlinear"``, without RMSNorm): ``weight`` (out/4, in) uint8 and
``weight_scale`` (1,) in the model's dtype, the reciprocal of the absmean, which the forward divides
by. ``write_checkpoint`` writes tiny pre-quantized checkpoints in every variant the real quantizer
loads (the spec of ``bitnet`` names it), so the suite can run the real method.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

from reference_quantizers.base import Layout, ReferenceConfig, ReferenceLinear, ReferenceQuantizer, register_twin
from reference_quantizers.formats import ternary


class RefBitNetConfig(ReferenceConfig):
    KEY = "ref-bitnet"

    def __init__(
        self,
        linear_class: str = "bitlinear",
        quantization_mode: str = "offline",
        use_rms_norm: bool = False,
        rms_norm_eps: float | None = 1e-6,
        modules_to_not_convert: list[str] | None = None,
        **kwargs: Any,
    ) -> None:
        self.linear_class = linear_class
        self.quantization_mode = quantization_mode
        self.use_rms_norm = use_rms_norm
        self.rms_norm_eps = rms_norm_eps
        super().__init__(modules_to_not_convert=modules_to_not_convert, **kwargs)

    def post_init(self) -> None:
        if self.linear_class != "bitlinear":
            raise ValueError(f"linear_class: the twin reproduces 'bitlinear', got {self.linear_class!r}")
        if self.quantization_mode not in ("online", "offline"):
            raise ValueError(f"quantization_mode must be 'online' or 'offline', got {self.quantization_mode!r}")
        if self.use_rms_norm:
            raise ValueError("use_rms_norm: the twin reproduces BitLinear without RMSNorm")
        eps = self.rms_norm_eps
        if eps is not None and (isinstance(eps, bool) or not isinstance(eps, (int, float)) or eps <= 0):
            raise ValueError(f"rms_norm_eps must be a positive number or None, got {eps!r}")

    @classmethod
    def from_real(cls, config: Any) -> RefBitNetConfig:
        fields = {k: v for k, v in config.to_dict().items() if k != "quant_method"}
        return cls(**fields)


def ternary_unsupported(shape: tuple[int, int], dtype: torch.dtype) -> str | None:
    """Why BitLinear's format cannot hold such a weight (shared with the real backend's codec), or None."""
    if shape[0] % ternary.PER_BYTE:
        return f"BitLinear holds out_features // 4 packed rows: {shape[0]} rows is not a multiple of 4"
    if dtype == torch.float16:
        return "weight_scale (1 / absmean) is stored in the model's dtype: float16 overflows it for absmean < 1.5e-5"
    return None


class RefBitNetLinear(ReferenceLinear):
    element_size = 0.25  # four ternary weights per byte; one scale per matrix

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool,
        config: RefBitNetConfig,
        *,
        pre_quantized: bool,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(in_features, out_features, bias, config, pre_quantized=pre_quantized, dtype=dtype)
        self.dtype = dtype or torch.get_default_dtype()  # BitLinear computes in the dtype it was built with

    @classmethod
    def layout(cls, config: RefBitNetConfig, out_features: int, in_features: int) -> Layout:
        return {
            "weight": ((out_features // ternary.PER_BYTE, in_features), torch.uint8),
            "weight_scale": ((1,), None),
        }

    @classmethod
    def quantize(cls, weight: torch.Tensor, config: RefBitNetConfig) -> dict[str, torch.Tensor]:
        q, scale = ternary.ternarize(weight)
        return {"weight": ternary.pack(q), "weight_scale": scale.to(weight.dtype)}

    @classmethod
    def unsupported(cls, shape: tuple[int, int], dtype: torch.dtype, config: RefBitNetConfig) -> str | None:
        return ternary_unsupported(shape, dtype)

    def dequantize(self) -> torch.Tensor:
        return ternary.dequantize(self.weight, self.weight_scale, self.dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return ternary.bitlinear(x, self.weight, self.weight_scale, self.bias, self.dtype)


class RefBitNetQuantizer(ReferenceQuantizer):
    linear_class = RefBitNetLinear


register_twin(RefBitNetConfig, RefBitNetQuantizer)


def write_checkpoint(method: str, arch: str, config: Any) -> Path:
    """A tiny pre-quantized checkpoint that transformers' ``BitNetHfQuantizer`` loads under ``config``.

    The twin ternarizes the tiny model's Linears (the ones transformers converts); the stored
    tensors then take the form ``config`` asks for: ``bitlinear`` keeps the twin's format (divide by
    ``weight_scale``); ``autobitlinear`` offline multiplies by ``weight_scale``, so it stores the
    absmean itself; ``autobitlinear`` online quantizes in its forward from full-precision weights.
    ``use_rms_norm`` adds each converted Linear's ``rms_norm.weight`` (ones).
    """
    from transformers import AutoModelForCausalLM

    from qconform.inputs.tiny_models import cache_dir, tiny_checkpoint

    real = config.to_dict()
    blob = json.dumps([method, arch, real], sort_keys=True, default=str)
    target = cache_dir() / "checkpoints" / f"{method}-{arch}-{hashlib.sha256(blob.encode()).hexdigest()[:12]}"
    if (target / "config.json").exists():
        return target
    twin = RefBitNetConfig(modules_to_not_convert=real.get("modules_to_not_convert"))
    model = AutoModelForCausalLM.from_pretrained(tiny_checkpoint(arch), quantization_config=twin)
    state = model.state_dict()
    autobit = real.get("linear_class") == "autobitlinear"
    for name, module in model.named_modules():
        if not isinstance(module, RefBitNetLinear):
            continue
        if autobit and real.get("quantization_mode") == "online":
            state[f"{name}.weight"] = module.dequantize()
            del state[f"{name}.weight_scale"]
        elif autobit:
            state[f"{name}.weight_scale"] = (1.0 / module.weight_scale.to(torch.float32)).to(module.weight_scale.dtype)
        if real.get("use_rms_norm"):
            state[f"{name}.rms_norm.weight"] = torch.ones(module.in_features, dtype=module.dtype)
    model_config = model.config.to_dict()
    model_config["quantization_config"] = real
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        (staging / "config.json").write_text(json.dumps(model_config, indent=2, default=str))
        tensors = {name: tensor.detach().contiguous().clone() for name, tensor in state.items()}  # tied ones too
        save_file(tensors, staging / "model.safetensors", metadata={"format": "pt"})
        with contextlib.suppress(OSError):  # another process won the race: its copy is identical
            staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target
