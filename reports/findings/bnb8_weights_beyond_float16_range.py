"""bitsandbytes 8-bit: a bfloat16 or float32 weight beyond float16's range quantizes to an infinite scale (NaN).

What breaks: Int8Params casts the weight to float16 before quantizing, so a row whose largest |w| exceeds
65504 (representable in bfloat16 and float32) gets an infinite row scale (SCB) and its values come back as
NaN; the model then computes NaN logits. Nothing warns.
Found by: qconform check test_finite_weights_give_finite_results
Spec entry: qconform/specs/bitsandbytes.py:DEVIATIONS_8BIT (test_finite_weights_give_finite_results)
Severity: silent wrong results or data loss
Affected releases: transformers 5.17.0, 5.19.0, 5.21.1, 5.23.0, 5.25.0
  (exit codes measured by releases.sh: 5.17.0: 1, 5.19.0: 1, 5.21.1: 1, 5.23.0: 1, 5.25.0: 1;
  with bitsandbytes 0.50.2, torch 2.13.0+cpu)
Expected: a finite weight gets finite scales (computed in the weight's dtype or float32), finite logits.
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


def main() -> int:
    torch.manual_seed(0)
    ids = torch.randint(0, CONFIG.vocab_size, (1, 16))
    model = AutoModelForCausalLM.from_config(CONFIG, dtype=torch.bfloat16)
    with torch.no_grad():
        model.model.layers[0].mlp.down_proj.weight[:8] *= 1e7  # rows up to ~1e6 > 65504: fine in bfloat16
    with torch.no_grad():
        reference_finite = model(ids).logits.isfinite().all().item()
    with tempfile.TemporaryDirectory() as tmp:
        model.save_pretrained(tmp)
        quantized = AutoModelForCausalLM.from_pretrained(
            tmp, quantization_config=BitsAndBytesConfig(load_in_8bit=True), dtype=torch.bfloat16, device_map="cpu"
        ).eval()
    scb = quantized.model.layers[0].mlp.down_proj.weight.SCB
    with torch.no_grad():
        logits = quantized(ids).logits
    bad_scales = (~scb.isfinite()).sum().item()
    bad_logits = (~logits.isfinite()).sum().item()
    print(
        f"8-bit bfloat16 model, 8 rows of |w| ~ 1e6: {bad_scales}/{scb.numel()} infinite SCB, "
        f"{bad_logits}/{logits.numel()} non-finite logits (full precision: all finite {reference_finite})"
    )
    return 1 if bad_scales else 0


if __name__ == "__main__":
    sys.exit(main())
