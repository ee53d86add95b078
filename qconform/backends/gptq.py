"""GPTQ through gptqmodel's own code: its ``GPTQ`` on one Linear, packed and dequantized by its ``TorchLinear``.

A GPTQ weight depends on calibration activations. ``quantize`` takes them as ``calibration`` (a list
of input batches); without them it uses ``reference_quantizers.calibration.synthetic_inputs`` (the
same fixed set the twin's codec uses), so that both codecs see the same Hessian.
"""

from __future__ import annotations

from typing import Any

import torch


def _qcfg(config: Any) -> Any:
    from gptqmodel.quantization.config import FORMAT, METHOD, QuantizeConfig

    return QuantizeConfig(
        bits=config.bits,
        group_size=config.group_size,
        damp_percent=config.damp_percent,
        desc_act=config.desc_act,
        act_group_aware=getattr(config, "act_group_aware", False) and not config.desc_act and config.group_size != -1,
        sym=config.sym,
        format=FORMAT.GPTQ,
        quant_method=METHOD.GPTQ,
        offload_to_disk=False,
    )


def _torch_linear(config: Any, shape: tuple[int, int]) -> Any:
    from gptqmodel.nn_modules.qlinear.torch import TorchLinear

    out_features, in_features = shape
    return TorchLinear(
        bits=config.bits,
        group_size=config.group_size if config.group_size != -1 else in_features,
        sym=config.sym,
        desc_act=config.desc_act,
        in_features=in_features,
        out_features=out_features,
        bias=False,
        pack_dtype=torch.int32,
        register_buffers=True,
    )


class GptqCodec:
    def quantize(
        self, weight: torch.Tensor, config: Any, calibration: list[torch.Tensor] | None = None
    ) -> dict[str, torch.Tensor]:
        from gptqmodel.quantization.gptq import GPTQ
        from gptqmodel.utils.model import convert_gptq_v2_to_v1_format_module

        from qconform.inputs.activations import synthetic_inputs

        inputs = calibration if calibration is not None else synthetic_inputs(weight.shape[1], device=weight.device)
        linear = torch.nn.Linear(weight.shape[1], weight.shape[0], bias=False, device=weight.device, dtype=weight.dtype)
        linear.weight.data = weight.detach().clone()
        gptq = GPTQ(linear, qcfg=_qcfg(config))
        gptq.quantizer.configure(bits=config.bits, sym=config.sym, perchannel=True)
        for batch in inputs:
            gptq.add_batch(batch.to(device=weight.device), None)
        scale, zero, g_idx, *_ = gptq.hf_quantize(
            percdamp=config.damp_percent, group_size=config.group_size, actorder=config.desc_act
        )
        module = _torch_linear(config, tuple(weight.shape))
        module.pack(linear.cpu(), scale.cpu(), zero.cpu(), g_idx.cpu())
        if config.format == "gptq":
            from gptqmodel.quantization.config import QuantizeConfig

            convert_gptq_v2_to_v1_format_module(module, QuantizeConfig(bits=config.bits))
        names = ("qweight", "qzeros", "scales", "g_idx")
        return {name: getattr(module, name).to(weight.device) for name in names}

    def dequantize(
        self, stored: dict[str, torch.Tensor], config: Any, shape: tuple[int, int], dtype: torch.dtype
    ) -> torch.Tensor:
        from gptqmodel.utils.model import convert_gptq_v1_to_v2_format_module

        module = _torch_linear(config, shape)
        for name, tensor in stored.items():
            setattr(module, name, tensor.detach().cpu().clone())
        if config.format == "gptq":
            convert_gptq_v1_to_v2_format_module(module, bits=config.bits, pack_dtype=torch.int32)
        # eager: post_init would torch.compile the dequantization for every new shape (the same arithmetic),
        # which took most of the codec's time on the CPU and ran past the check's limit on CUDA
        module.optimized = True
        module.post_init()
        module.eval()
        weight = module.dequantize_weight().T
        return weight.to(device=next(iter(stored.values())).device, dtype=dtype)

    def unsupported(self, shape: tuple[int, int], dtype: torch.dtype, config: Any, device: str) -> str | None:
        out_features, in_features = shape
        if in_features % 32 or out_features % 32:
            return f"gptqmodel packs whole 32-row words: in and out features must be multiples of 32, got {shape}"
        return None
