"""An all-zero block divides by its zero peak: NaN codes and scales."""

from __future__ import annotations

import torch

from reference_quantizers.formats import fp8
from tests.planted import PlantedBug
from tests.planted.bases_quantizers import CONTROL, ControlLinear, ControlQuantizer, codec_only, planted, spec

KEY = "planted-numerics-zero-block-nan"


class UnguardedLinear(ControlLinear):
    @classmethod
    def quantize(cls, weight, config):
        bm, bn = config.weight_block_size
        rows, cols = fp8.tile_grid(tuple(weight.shape), (bm, bn))
        padded = torch.nn.functional.pad(
            weight.float(), (0, cols * bn - weight.shape[1], 0, rows * bm - weight.shape[0])
        )
        tiles = padded.reshape(rows, bm, cols, bn)
        peak = tiles.abs().amax(dim=(1, 3))
        scale = fp8.FP8_MAX / peak  # the bug: no guard for an all-zero tile (0 * inf = NaN)
        codes = (tiles * scale[:, None, :, None]).clamp(-fp8.FP8_MAX, fp8.FP8_MAX).to(fp8.FP8)
        codes = codes.reshape(padded.shape)[: weight.shape[0], : weight.shape[1]].contiguous()
        return {"weight": codes, "weight_scale_inv": 1.0 / scale}


class UnguardedQuantizer(ControlQuantizer):
    linear_class = UnguardedLinear


SPECS = (spec(KEY, planted(KEY, UnguardedQuantizer), __name__, "UnguardedQuantizer", **codec_only()),)
PLANTED = PlantedBug(
    key=KEY,
    catches=("test_finite_weights_give_finite_results",),
    description="NaN on an all-zero block",
    control=CONTROL,
    message=r"a finite weight dequantizes to NaN or inf",
    bare=False,
    bare_reason="the check quantizes through the spec's codec; hostile_zero_row_nan_scale is the model-path "
    "case a bare run sees",
)
