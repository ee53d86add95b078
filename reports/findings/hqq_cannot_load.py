"""transformers + hqq: a model cannot be loaded with HqqConfig at all (NotImplementedError).

What breaks: HqqHfQuantizer implements no get_quantize_ops, so from_pretrained(..., quantization_config=HqqConfig())
raises NotImplementedError ('hqq is not available yet and will be supported soon'), with or without a device_map
(measured on transformers 5.17 and 5.25), although hqq's HQQLinear runs on the CPU (hqq itself quantizes the same
Linear here, as this script shows). HqqConfig is still exported and documented.
Found by: qconform lifecycle checks (test_forward_runs_deterministically, test_save_reload_bit_identical, ...)
Spec entry: qconform/specs/hqq.py:SPECS (hqq, cannot_load(...))
Severity: crash
Affected releases: transformers 5.17.0, 5.19.0, 5.21.1, 5.23.0, 5.25.0
  (exit codes measured by releases.sh: 5.17.0: 1, 5.19.0: 1, 5.21.1: 1, 5.23.0: 1, 5.25.0: 1;
  with hqq 0.2.8.post1, torch 2.13.0+cpu)
Expected: from_pretrained with HqqConfig(nbits=4, group_size=64) gives a model with HQQLinear layers and finite logits.
Exit: 1 while the deviation holds, 0 once fixed, 2 if hqq is missing or unusable here.
"""

import sys
import tempfile

import torch
import transformers
from transformers import AutoModelForCausalLM, HqqConfig, LlamaConfig

try:
    from hqq.core.quantize import BaseQuantizeConfig, HQQLinear
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


def attempt(path: str, ids: torch.Tensor, **kwargs) -> str | None:
    """None if the model loads with HQQ layers and gives finite logits, else what went wrong."""
    try:
        model = AutoModelForCausalLM.from_pretrained(
            path, quantization_config=HqqConfig(nbits=4, group_size=64), **kwargs
        ).eval()
        with torch.no_grad():
            logits = model(ids).logits
    except Exception as error:  # any failure is the finding
        return f"{type(error).__name__}: {str(error)[:70]}"
    if not isinstance(model.model.layers[0].mlp.down_proj, HQQLinear):
        return "loaded, but down_proj is not an HQQLinear"
    return None if logits.isfinite().all() else "non-finite logits"


def main() -> int:
    torch.manual_seed(0)
    ids = torch.randint(0, CONFIG.vocab_size, (1, 16))
    config = BaseQuantizeConfig(nbits=4, group_size=64)
    layer = HQQLinear(torch.nn.Linear(128, 256), config, compute_dtype=torch.float32, device="cpu")
    if not layer(torch.randn(2, 128)).isfinite().all():
        print("backend unusable: hqq's HQQLinear does not run on this CPU")
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        AutoModelForCausalLM.from_config(CONFIG).save_pretrained(tmp)
        results = {"no device_map": attempt(tmp, ids), "device_map='cpu'": attempt(tmp, ids, device_map="cpu")}
    print(
        "hqq's HQQLinear runs on the CPU; from_pretrained with HqqConfig: "
        + "; ".join(f"{k}: {v or 'ok'}" for k, v in results.items())
    )
    return 1 if any(results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
