"""bitsandbytes 4-bit on CPU: a model saved after one forward reloads to other logits.

What breaks: on a CPU with AVX512-BF16, Linear4bit's first forward repacks its weight in place for the CPU
kernel (absmax cast to bfloat16 and transposed, quant_state.packing_format_for_cpu). save_pretrained converts
it back only approximately (_convert_weight_packed_for_cpu_inverse, a "best-effort inverse"), so the saved
absmax values change and the reloaded model computes other logits. Saved before any forward, it reloads exactly.
Found by: qconform check test_save_reload_bit_identical (cpu)
Spec entry: qconform/specs/bitsandbytes.py:DEVIATIONS_4BIT (test_save_reload_bit_identical, cpu)
Severity: silent wrong results or data loss
Affected releases: transformers 5.17.0, 5.19.0, 5.21.1, 5.23.0, 5.25.0
  (exit codes measured by releases.sh: 5.17.0: 1, 5.19.0: 1, 5.21.1: 1, 5.23.0: 1, 5.25.0: 1;
  with bitsandbytes 0.50.2, torch 2.13.0+cpu)
Expected: the reloaded model's logits equal the saved model's, bit for bit.
Exit: 1 while the deviation holds, 0 once fixed, 2 if bitsandbytes is missing or unusable here.
"""

import sys
import tempfile

import torch
import transformers
from transformers import AutoModelForCausalLM, BitsAndBytesConfig, LlamaConfig

try:
    import bitsandbytes
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


def main() -> int:
    torch.manual_seed(0)
    ids = torch.randint(0, CONFIG.vocab_size, (1, 16))
    with tempfile.TemporaryDirectory() as tmp:
        AutoModelForCausalLM.from_config(CONFIG).save_pretrained(f"{tmp}/fp")
        model = AutoModelForCausalLM.from_pretrained(
            f"{tmp}/fp", quantization_config=BitsAndBytesConfig(load_in_4bit=True), device_map="cpu"
        ).eval()
        with torch.no_grad():
            before = model(ids).logits  # the first forward repacks the weights for the CPU kernel
        if not getattr(model.model.layers[0].mlp.down_proj.weight.quant_state, "packing_format_for_cpu", False):
            print(f"backend unusable: no CPU repack on this CPU (bitsandbytes {bitsandbytes.__version__})")
            return 2
        model.save_pretrained(f"{tmp}/q")
        reloaded = AutoModelForCausalLM.from_pretrained(f"{tmp}/q", device_map="cpu").eval()
        with torch.no_grad():
            after = reloaded(ids).logits
    differ = (before != after).sum().item()
    gap = (before - after).abs().max().item()
    print(f"saved after a forward: {differ}/{before.numel()} reloaded logits differ, largest by {gap:.3g}")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
