"""transformers + aqlm: linear_weights_not_to_quantize=['lm_head.weight'] is ignored; lm_head loads as AQLM.

What breaks: AqlmConfig.linear_weights_not_to_quantize lists weight paths ('lm_head.weight'), as its docstring
says and as AQLM checkpoints write, but replace_with_aqlm_linear matches the list against module names
('lm_head') and AqlmHfQuantizer adds no default skips. So every Linear becomes a QuantizedLinear, the output
embedding included: the checkpoint's full-precision lm_head.weight is dropped (unexpected key) and the
QuantizedLinear's codes, codebooks and scales are missing from the checkpoint (left uninitialised). The model
loads without an error and computes garbage; on a tied model (OPT) tie_weights then fails with
AttributeError: QuantizedLinear has no attribute `weight`.
Found by: qconform checks test_output_embedding_stays_full_precision (and the lifecycle checks on OPT)
Spec entry: qconform/specs/codebooks.py:_SKIPS_BY_WEIGHT_PATH (SPECS aqlm, test_output_embedding_stays_full_precision)
Severity: silent wrong results or data loss
Affected releases: transformers 5.17.0, 5.19.0, 5.21.1, 5.23.0, 5.25.0
  (exit codes measured by releases.sh: 5.17.0: 1, 5.19.0: 1, 5.21.1: 1, 5.23.0: 1, 5.25.0: 1;
  with aqlm 1.1.7, torch 2.13.0+cpu)
Expected: lm_head stays an nn.Linear holding the checkpoint's lm_head.weight.
Exit: 1 while the deviation holds, 0 once fixed, 2 if aqlm is missing or unusable here.
"""

import json
import sys
import tempfile

import torch
import transformers
from safetensors.torch import save_file
from transformers import AutoModelForCausalLM, LlamaConfig

try:
    import aqlm  # noqa: F401
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
AQLM = {
    "quant_method": "aqlm",
    "in_group_size": 8,
    "out_group_size": 1,
    "num_codebooks": 1,
    "nbits_per_codebook": 8,
    "linear_weights_not_to_quantize": ["model.embed_tokens.weight", "lm_head.weight"],
}


def aqlm_checkpoint(path: str) -> None:
    """A tiny Llama in AQLM 1x8 layout (random codes and codebooks) whose lm_head stays full precision."""
    model = AutoModelForCausalLM.from_config(CONFIG)
    tensors = {}
    for name, tensor in model.state_dict().items():
        module = name.removesuffix(".weight")
        if name.endswith("proj.weight"):
            out_features, in_features = tensor.shape
            tensors[f"{module}.codes"] = torch.randint(-128, 128, (out_features, in_features // 8, 1), dtype=torch.int8)
            tensors[f"{module}.codebooks"] = 0.05 * torch.randn(1, 256, 1, 8)
            tensors[f"{module}.scales"] = torch.ones(out_features, 1, 1, 1)
        else:
            tensors[name] = tensor.contiguous()
    save_file(tensors, f"{path}/model.safetensors", metadata={"format": "pt"})
    config = {**CONFIG.to_dict(), "quantization_config": AQLM, "architectures": ["LlamaForCausalLM"]}
    with open(f"{path}/config.json", "w") as file:
        json.dump(config, file)


def main() -> int:
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        aqlm_checkpoint(tmp)
        model, info = AutoModelForCausalLM.from_pretrained(tmp, device_map="cpu", output_loading_info=True)
    head = type(model.lm_head).__name__
    lost = sorted(key for key in [*info["missing_keys"], *info["unexpected_keys"]] if key.startswith("lm_head"))
    print(
        f"linear_weights_not_to_quantize={AQLM['linear_weights_not_to_quantize']}: lm_head is a {head}; "
        f"lm_head keys missing or unexpected: {lost or 'none'}"
    )
    return 1 if not isinstance(model.lm_head, torch.nn.Linear) or lost else 0


if __name__ == "__main__":
    sys.exit(main())
