"""transformers + bitsandbytes 4-bit on CPU: model.dequantize() after a forward gives a model that computes garbage.

What breaks: on a CPU with AVX512-BF16, Linear4bit's first forward repacks its weight in place for the CPU
kernel (quant_state.packing_format_for_cpu: absmax cast to bfloat16, layout transposed). transformers'
dequantize_and_replace -> dequantize_bnb_weight ignores that flag and reads the repacked weight as the standard
layout, so the dequantized model's logits are far from the quantized model's. Dequantized before any forward,
they match.
Found by: qconform check test_dequantize_matches_quantized (cpu)
Spec entry: qconform/specs/bitsandbytes.py:DEVIATIONS_4BIT (test_dequantize_matches_quantized, cpu)
Severity: silent wrong results or data loss
Affected releases: transformers 5.17.0, 5.19.0, 5.21.1, 5.23.0, 5.25.0
  (exit codes measured by releases.sh: 5.17.0: 1, 5.19.0: 1, 5.21.1: 1, 5.23.0: 1, 5.25.0: 1;
  with bitsandbytes 0.50.2, torch 2.13.0+cpu)
Expected: model.dequantize() keeps the model's function: its logits within rounding of the quantized ones.
Exit: 1 while the deviation holds, 0 once fixed, 2 if bitsandbytes is missing or unusable here.
"""

import sys
import tempfile

import torch
import transformers
from transformers import AutoModelForCausalLM, BitsAndBytesConfig, LlamaConfig

try:
    import bitsandbytes  # noqa: F401
except ImportError as error:
    print(f"backend unusable: {error}")
    sys.exit(2)

transformers.logging.set_verbosity_error()
transformers.utils.logging.disable_progress_bar()
CONFIG = LlamaConfig(
    vocab_size=256,
    hidden_size=128,
    intermediate_size=256,
    num_hidden_layers=1,
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=64,
    tie_word_embeddings=False,
)
# the CPU kernel computes with bfloat16 block scales: a few tenths of a percent from the dequantized matmul
BOUND = 0.05


def main() -> int:
    torch.manual_seed(0)
    ids = torch.randint(0, CONFIG.vocab_size, (1, 16))
    with tempfile.TemporaryDirectory() as tmp:
        AutoModelForCausalLM.from_config(CONFIG).save_pretrained(f"{tmp}/fp")
        model = AutoModelForCausalLM.from_pretrained(
            f"{tmp}/fp", quantization_config=BitsAndBytesConfig(load_in_4bit=True), device_map="cpu"
        ).eval()
    with torch.no_grad():
        quantized = model(ids).logits  # the first forward repacks the weights for the CPU kernel
        if not getattr(model.model.layers[0].mlp.down_proj.weight.quant_state, "packing_format_for_cpu", False):
            print("backend unusable: bitsandbytes does not repack for the CPU kernel on this CPU")
            return 2
        model.dequantize()
        dequantized = model(ids).logits
    gap = ((dequantized - quantized).norm() / quantized.norm()).item()
    print(f"dequantize() after a forward: logits {gap:.3g} (relative) from the quantized model's, bound {BOUND}")
    return 1 if gap > BOUND else 0


if __name__ == "__main__":
    sys.exit(main())
