"""bitsandbytes 4-bit and 8-bit through bitsandbytes' own functions, as transformers' loader calls them.

4-bit: ``Params4bit._quantize`` is ``bitsandbytes.functional.quantize_4bit`` with the parameter's
block size (64: transformers never sets another), and ``Linear4bit._save_to_state_dict`` writes the
packed weight and ``QuantState.as_dict(packed=True)`` under ``weight.``; transformers dequantizes with
``dequantize_4bit``. 8-bit: ``Int8Params`` quantizes a float16 copy of the weight on the CPU with
``int8_vectorwise_quant`` (moving it to the device first, as ``Bnb8bitQuantize`` does) and
``Linear8bitLt`` saves ``weight``, ``SCB`` and ``weight_format``; transformers dequantizes with
``int8_vectorwise_dequant``.
"""

from __future__ import annotations

from typing import Any

import torch

#: Params4bit's block size when none is given, which is how transformers builds every Linear4bit
BLOCKSIZE = 64
FLOATS = (torch.float16, torch.bfloat16, torch.float32)


def _device_reason(device: str) -> str | None:
    kind = torch.device(device).type
    return None if kind in ("cpu", "cuda") else f"bitsandbytes is tested here on cpu and cuda, not {kind}"


def _storage(config: Any) -> torch.dtype:
    storage = config.bnb_4bit_quant_storage
    return getattr(torch, storage) if isinstance(storage, str) else storage


class Bnb4bitCodec:
    def quantize(self, weight: torch.Tensor, config: Any) -> dict[str, torch.Tensor]:
        import bitsandbytes.functional as F

        packed, state = F.quantize_4bit(
            weight.contiguous(),
            blocksize=BLOCKSIZE,
            compress_statistics=config.bnb_4bit_use_double_quant,
            quant_type=config.bnb_4bit_quant_type,
            quant_storage=_storage(config),
        )
        stored = {"weight": packed}
        stored.update({f"weight.{key}": value for key, value in state.as_dict(packed=True).items()})
        return stored

    def dequantize(
        self, stored: dict[str, torch.Tensor], config: Any, shape: tuple[int, int], dtype: torch.dtype
    ) -> torch.Tensor:
        import bitsandbytes.functional as F

        packed = stored["weight"]
        stats = {key: value for key, value in stored.items() if key != "weight"}
        state = F.QuantState.from_dict(stats, device=packed.device)
        return F.dequantize_4bit(packed, state).reshape(shape).to(dtype)

    def unsupported(self, shape: tuple[int, int], dtype: torch.dtype, config: Any, device: str) -> str | None:
        if reason := _device_reason(device):
            return reason
        if dtype not in FLOATS:
            return f"quantize_4bit takes float16, bfloat16 and float32 weights, not {dtype}"
        storage = _storage(config)
        packed_bytes = -(-shape[0] * shape[1] // 2)
        if packed_bytes % storage.itemsize:
            return f"{packed_bytes} packed bytes of a {shape} weight cannot be viewed as {storage} (quant_storage)"
        return None


class Bnb8bitCodec:
    def quantize(self, weight: torch.Tensor, config: Any) -> dict[str, torch.Tensor]:
        import bitsandbytes as bnb

        param = bnb.nn.Int8Params(
            weight.to("cpu"), requires_grad=False, has_fp16_weights=config.llm_int8_has_fp16_weight
        ).to(weight.device)
        if config.llm_int8_has_fp16_weight:  # kept in full precision: quantized again at every forward
            return {"weight": param.data}
        weight_format = torch.zeros((), dtype=torch.uint8, device=weight.device)  # 0: row-major
        return {"weight": param.data, "SCB": param.SCB, "weight_format": weight_format}

    def dequantize(
        self, stored: dict[str, torch.Tensor], config: Any, shape: tuple[int, int], dtype: torch.dtype
    ) -> torch.Tensor:
        import bitsandbytes.functional as F

        if "SCB" not in stored:
            return stored["weight"].to(dtype)
        return F.int8_vectorwise_dequant(stored["weight"], stored["SCB"]).to(dtype)

    def unsupported(self, shape: tuple[int, int], dtype: torch.dtype, config: Any, device: str) -> str | None:
        if reason := _device_reason(device):
            return reason
        if not dtype.is_floating_point:
            return f"Int8Params quantizes floating-point weights, not {dtype}"
        return None
