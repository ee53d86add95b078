"""transformers + bitsandbytes: an explicit llm_int8_skip_modules drops the default skips; a tied head breaks loading.

What breaks: transformers' get_modules_to_not_convert adds its default skips (the output embedding, tied
weights included) only when llm_int8_skip_modules is None. Passing any list (here ['fc1']) replaces them,
so OPT's lm_head, tied to the input embedding, is converted to a Linear4bit/Linear8bitLt that is then handed
the embedding's full-precision tensor: 4-bit fails at the first forward (AssertionError in
fix_4bit_weight_quant_state_from_module), 8-bit at loading (AttributeError: 'Parameter' has no attribute 'CB').
The user only asked to keep fc1 in full precision.
Found by: qconform check test_skip_list_respected (opt)
Spec entry: qconform/specs/bitsandbytes.py:_tied_head_skip_list (DEVIATIONS_4BIT and DEVIATIONS_8BIT, opt)
Severity: crash
Affected releases: transformers 5.17.0, 5.19.0, 5.21.1, 5.23.0, 5.25.0
  (exit codes measured by releases.sh: 5.17.0: 1, 5.19.0: 1, 5.21.1: 1, 5.23.0: 1, 5.25.0: 1;
  with bitsandbytes 0.50.2, torch 2.13.0+cpu)
Expected: a tied OPT model loads and runs in 4 and 8 bits with llm_int8_skip_modules=['fc1'], lm_head kept
in full precision as without the list.
Exit: 1 while the deviation holds, 0 once fixed, 2 if bitsandbytes is missing or unusable here.
"""

import sys
import tempfile

import torch
import transformers
from transformers import AutoModelForCausalLM, BitsAndBytesConfig, OPTConfig

try:
    import bitsandbytes  # noqa: F401
except ImportError as error:
    print(f"backend unusable: {error}")
    sys.exit(2)

transformers.logging.set_verbosity_error()
transformers.utils.logging.disable_progress_bar()
CONFIG = OPTConfig(
    vocab_size=256,
    hidden_size=128,
    ffn_dim=256,
    num_hidden_layers=1,
    num_attention_heads=4,
    max_position_embeddings=64,
    word_embed_proj_dim=128,
    tie_word_embeddings=True,
)


def attempt(path: str, ids: torch.Tensor, **flags) -> str | None:
    """None if the model loads and gives finite logits, else what went wrong."""
    config = BitsAndBytesConfig(llm_int8_skip_modules=["fc1"], **flags)
    try:
        model = AutoModelForCausalLM.from_pretrained(path, quantization_config=config, device_map="cpu").eval()
        with torch.no_grad():
            logits = model(ids).logits
    except Exception as error:  # any failure is the finding
        return f"{type(error).__name__}: {str(error)[:80]}"
    return None if logits.isfinite().all() else "non-finite logits"


def main() -> int:
    torch.manual_seed(0)
    ids = torch.randint(0, CONFIG.vocab_size, (1, 16))
    with tempfile.TemporaryDirectory() as tmp:
        AutoModelForCausalLM.from_config(CONFIG).save_pretrained(tmp)
        results = {bits: attempt(tmp, ids, **{f"load_in_{bits}": True}) for bits in ("4bit", "8bit")}
    print("tied OPT, llm_int8_skip_modules=['fc1']: " + "; ".join(f"{k}: {v or 'ok'}" for k, v in results.items()))
    return 1 if any(results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
