"""Targets are read from transformers' dispatch when asked, including run-time registrations."""

from __future__ import annotations

import pytest
from transformers.quantizers.auto import AUTO_QUANTIZATION_CONFIG_MAPPING, AUTO_QUANTIZER_MAPPING

from qconform.discovery.targets import discover


def test_one_target_per_dispatch_key():
    found = discover()
    builtin = {k for k, cls in AUTO_QUANTIZER_MAPPING.items() if cls.__module__.startswith("transformers.")}
    assert builtin <= set(found.targets)
    assert set(found.targets) == set(AUTO_QUANTIZER_MAPPING)
    for key in builtin:
        target = found.targets[key]
        assert target.origin == "transformers"
        assert target.quantizer_class is AUTO_QUANTIZER_MAPPING[key]
        assert target.config_class is AUTO_QUANTIZATION_CONFIG_MAPPING[key]
        assert target.spec.method == key


@pytest.fixture
def registered_at_run_time():
    """A quantizer registered with transformers' own decorators after import, removed afterwards."""
    from transformers.quantizers import HfQuantizer
    from transformers.quantizers.auto import register_quantization_config, register_quantizer
    from transformers.utils.quantization_config import QuantizationConfigMixin

    key = "qconform-test-runtime"

    @register_quantization_config(key)
    class RuntimeConfig(QuantizationConfigMixin):
        def __init__(self, **kwargs):
            self.quant_method = key

    @register_quantizer(key)
    class RuntimeQuantizer(HfQuantizer):
        def is_serializable(self):
            return True

        @property
        def is_trainable(self):
            return False

    yield key, RuntimeQuantizer, RuntimeConfig
    AUTO_QUANTIZER_MAPPING.pop(key)
    AUTO_QUANTIZATION_CONFIG_MAPPING.pop(key)


def test_quantizer_registered_at_run_time_is_a_plugin_target(registered_at_run_time):
    key, quantizer, config = registered_at_run_time
    target = discover().targets[key]
    assert (target.quantizer_class, target.config_class, target.origin) == (quantizer, config, "plugin")
    assert "no spec declared" in target.spec.notes
    assert isinstance(target.spec.inputs.default_config(), config)
