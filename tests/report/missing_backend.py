"""A quantizer whose config needs a package that is never installed: its config checks are skipped as
"not installed here", on any machine (unlike a real backend, which may or may not be there)."""

from __future__ import annotations

from transformers.quantizers import HfQuantizer
from transformers.quantizers.auto import register_quantization_config, register_quantizer
from transformers.utils.quantization_config import QuantizationConfigMixin

KEY = "report-missing-backend"


@register_quantization_config(KEY)
class MissingBackendConfig(QuantizationConfigMixin):
    def __init__(self, bits: int = 4, **kwargs):
        import qconform_never_installed_backend  # noqa: F401  (the point: an ImportError at construction)

        self.quant_method = KEY
        self.bits = bits


@register_quantizer(KEY)
class MissingBackendQuantizer(HfQuantizer):
    def is_serializable(self):
        return True

    @property
    def is_trainable(self):
        return False
