"""transformers + torchao: modules_to_not_convert=['down_proj'] is ignored; those modules are quantized.

What breaks: TorchAoHfQuantizer matches modules_to_not_convert against parameter names
('model.layers.0.mlp.down_proj.weight'), and a module-name suffix such as 'down_proj' never matches one (full
module names and prefixes do), so the modules the user asked to keep in full precision are quantized. A model's
_keep_in_fp32_modules (module-name suffixes, such as T5's 'wo') go through the same list and are lost the same
way. Other quantizers (bitsandbytes, quanto, ...) honour the suffix.
Found by: qconform checks test_skip_list_respected and test_keep_in_fp32_modules_stay_full_precision
Spec entry: qconform/specs/torchao.py:MEASURED_DEVIATIONS (test_skip_list_respected,
test_keep_in_fp32_modules_stay_full_precision)
Severity: silent wrong results or data loss
Affected releases: transformers 5.17.0, 5.19.0, 5.21.1, 5.23.0, 5.25.0
  (exit codes measured by releases.sh: 5.17.0: 1, 5.19.0: 1, 5.21.1: 1, 5.23.0: 1, 5.25.0: 1;
  with torchao 0.18.0, torch 2.13.0+cpu)
Expected: every *.down_proj stays a full-precision nn.Linear weight; the other Linears are quantized.
Exit: 1 while the deviation holds, 0 once fixed, 2 if torchao is missing or unusable here.
"""

import sys
import tempfile

import torch
import transformers
from transformers import AutoModelForCausalLM, LlamaConfig, TorchAoConfig

try:
    from torchao.quantization import Int8WeightOnlyConfig
except ImportError as error:
    print(f"backend unusable: {error}")
    sys.exit(2)

transformers.logging.set_verbosity_error()
transformers.utils.logging.disable_progress_bar()
CONFIG = LlamaConfig(
    vocab_size=256,
    hidden_size=128,
    intermediate_size=256,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=64,
    tie_word_embeddings=False,
)


def quantized(module: torch.nn.Module) -> bool:
    """torchao replaces a quantized Linear's weight by a tensor subclass."""
    return type(module.weight.data) is not torch.Tensor


def main() -> int:
    torch.manual_seed(0)
    config = TorchAoConfig(quant_type=Int8WeightOnlyConfig(), modules_to_not_convert=["down_proj"])
    with tempfile.TemporaryDirectory() as tmp:
        AutoModelForCausalLM.from_config(CONFIG).save_pretrained(tmp)
        model = AutoModelForCausalLM.from_pretrained(tmp, quantization_config=config, device_map="cpu")
    layers = model.model.layers
    wrongly = [f"layers.{i}.mlp.down_proj" for i, layer in enumerate(layers) if quantized(layer.mlp.down_proj)]
    others = sum(quantized(layer.mlp.up_proj) for layer in layers)
    print(
        f"modules_to_not_convert=['down_proj']: quantized anyway {wrongly or 'none'}; "
        f"up_proj quantized in {others}/{len(layers)} layers"
    )
    if others != len(layers):
        print("backend unusable: torchao did not quantize the other Linears here")
        return 2
    return 1 if wrongly else 0


if __name__ == "__main__":
    sys.exit(main())
