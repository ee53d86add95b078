"""Targets are read from transformers' dispatch when asked, including run-time registrations."""

from __future__ import annotations

import pytest
from transformers.quantizers.auto import AUTO_QUANTIZATION_CONFIG_MAPPING, AUTO_QUANTIZER_MAPPING

from qconform.discovery.targets import discover


def test_discovery_probes_only_the_selected_targets():
    """A probe builds the default config (QuarkConfig imports amd-quark, seconds): a run probes what it selected;
    the others keep the spec as declared, with nothing found out."""
    found = discover((), lambda key, origin: key == "bitsandbytes_4bit")
    probed = {key for key, target in found.targets.items() if target.probed is not None}
    assert probed == {"bitsandbytes_4bit"}
    assert found.targets["bitsandbytes_4bit"].spec.promises.capabilities.serializable is not None
    quark = found.targets["quark"]
    assert quark.spec.promises.capabilities == quark.declared.promises.capabilities
    assert set(found.targets) == set(discover().targets)


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


@pytest.fixture
def bare_quantizers():
    """Quantizers nobody wrote a spec for: one that says it cannot be saved and refuses CPU-only machines, one
    whose ``is_serializable`` raises; removed afterwards."""
    from transformers.quantizers import HfQuantizer
    from transformers.quantizers.auto import register_quantization_config, register_quantizer
    from transformers.utils.quantization_config import QuantizationConfigMixin

    keys = ("qconform-test-bare", "qconform-test-bare-raises")

    class BareConfig(QuantizationConfigMixin):
        def __init__(self, **kwargs):
            self.quant_method = keys[0]

    class RaisingConfig(BareConfig):
        def __init__(self, **kwargs):
            self.quant_method = keys[1]

    class BareQuantizer(HfQuantizer):
        def validate_environment(self, *args, **kwargs):
            raise RuntimeError("this quantizer needs a CUDA GPU with compute capability 9.0")

        def _dequantize(self, model, dtype=None):
            return model

        def is_serializable(self):
            return False

        @property
        def is_trainable(self):
            return True

    class RaisingQuantizer(BareQuantizer):
        def is_serializable(self):
            raise ImportError("backend-x is not installed: pip install backend-x")

    register_quantization_config(keys[0])(BareConfig)
    register_quantizer(keys[0])(BareQuantizer)
    register_quantization_config(keys[1])(RaisingConfig)
    register_quantizer(keys[1])(RaisingQuantizer)
    yield keys
    for key in keys:
        AUTO_QUANTIZER_MAPPING.pop(key)
        AUTO_QUANTIZATION_CONFIG_MAPPING.pop(key)


def test_bare_quantizer_capabilities_are_read_from_it_with_evidence(bare_quantizers):
    found = discover().targets
    bare, raising = found[bare_quantizers[0]], found[bare_quantizers[1]]
    assert bare.declared is None
    capabilities = bare.spec.promises.capabilities
    assert (capabilities.serializable, capabilities.loads_prequantized) == (False, False)
    assert (capabilities.trainable, capabilities.dequantizable) == (True, True)
    assert capabilities.quantizes_on_the_fly is False  # no get_quantize_ops
    assert "is_serializable returned False" in bare.probed.evidence["serializable"]
    assert "overrides _dequantize" in bare.probed.evidence["dequantizable"]
    assert "quantizes_on_the_fly" in bare.spec.found_out
    # a fact that cannot be read keeps the contract's default, and its evidence quotes the error
    assert raising.spec.promises.capabilities.serializable is True and "serializable" in raising.probed.unread
    assert "ImportError: backend-x is not installed" in raising.probed.evidence["serializable"]


def test_a_bare_quantizer_refusing_validation_is_skipped_with_the_refusal(bare_quantizers):
    from qconform.inputs.tiny_models import tiny_checkpoint
    from qconform.support import trial

    target = discover().targets[bare_quantizers[0]]
    with pytest.raises(pytest.skip.Exception, match=r"not supported on this hardware.*compute capability 9\.0"):
        trial.validate(target.spec, target.spec.inputs.default_config(), "cpu", tiny_checkpoint())
    declared = target.spec.replace(found_out=())  # where the author stated it, nothing is tried
    trial.validate(declared, target.spec.inputs.default_config(), "cpu", tiny_checkpoint())
    assert trial.classify(ImportError("No module named 'x'"), target.spec).startswith(trial.NOT_INSTALLED)
    offline = OSError("We couldn't connect to 'https://huggingface.co' to load the files, and offline mode is on")
    assert trial.classify(offline, target.spec).startswith(trial.NEEDS_NETWORK)


def test_the_calibration_path_is_probed_from_the_config_signature():
    """A config taking dataset and tokenizer (its own or forwarded to GPTQConfig) offers calibration while loading,
    unless the quantizer requires pre-quantized checkpoints (AWQ's config takes both through GPTQConfig's); a spec
    declares none with ()."""
    from transformers import AwqConfig, GPTQConfig
    from transformers.quantizers.quantizer_awq import AwqQuantizer
    from transformers.quantizers.quantizer_gptq import GptqHfQuantizer

    from qconform.discovery.probe import CALIBRATION_FIELDS, calibration_path, probe
    from qconform.discovery.targets import completed
    from qconform.specs.model import minimal_spec

    class TextConfig(GPTQConfig):
        def __init__(self, bits: int = 4, **kwargs):
            super().__init__(bits=bits, **kwargs)

    class NoTokenizer(GPTQConfig):
        def __init__(self, bits: int = 4, dataset=None):
            super().__init__(bits=bits, dataset=dataset)

    assert calibration_path(TextConfig, requires_calibration=False) == CALIBRATION_FIELDS
    assert calibration_path(NoTokenizer, requires_calibration=False) is None
    assert calibration_path(AwqConfig, requires_calibration=True) is None
    found = probe(GptqHfQuantizer, GPTQConfig)
    assert (
        found.calibration_fields == CALIBRATION_FIELDS
        and "takes dataset and tokenizer," in found.evidence["calibration_fields"]
    )
    assert "requires_calibration is True" in probe(AwqQuantizer, AwqConfig).evidence["calibration_fields"]
    unset, declared_none = minimal_spec("k", GPTQConfig), minimal_spec("k", GPTQConfig).replace(calibration_fields=())
    assert completed(unset, GptqHfQuantizer, GPTQConfig, found).inputs.calibration_fields == CALIBRATION_FIELDS
    assert completed(declared_none, GptqHfQuantizer, GPTQConfig, found).inputs.calibration_fields == ()
