"""gptqmodel on CPU: an AWQ model saved after one forward writes a checkpoint that cannot be loaded.

What breaks: gptqmodel's CPU AWQ kernel (TorchAtenAwqLinear) repacks qweight in place on its first forward
(int32 [in, out/8] to uint8 [in, out/2] for torch's int4 kernel), and save_pretrained writes that layout under
the checkpoint's name and format. from_pretrained then refuses the saved checkpoint (size mismatch of qweight).
Saved before any forward, the same model reloads. The same defect as gptq_cpu_save_after_forward.py, in
gptqmodel's separate AWQ kernel.
Found by: qconform check test_save_reload_bit_identical (cpu)
Spec entry: qconform/specs/gptq.py:SPECS (awq, test_save_reload_bit_identical, cpu)
Severity: silent wrong results or data loss
Affected releases: transformers 5.17.0, 5.19.0, 5.21.1, 5.23.0, 5.25.0
  (exit codes measured by releases.sh: 5.17.0: 1, 5.19.0: 1, 5.21.1: 1, 5.23.0: 1, 5.25.0: 1;
  with gptqmodel 7.6.0, optimum 2.3.0, torch 2.13.0+cpu)
Expected: a loaded AWQ model saved after a forward reloads, with the same logits.
Exit: 1 while the deviation holds, 0 once fixed, 2 if gptqmodel is missing or unusable here.
"""

import json
import sys
import tempfile

import torch
import transformers
from safetensors import safe_open
from safetensors.torch import save_file
from transformers import AutoModelForCausalLM, LlamaConfig

try:
    import gptqmodel  # noqa: F401
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
BITS, GROUP = 4, 64


def awq_checkpoint(path: str) -> None:
    """A tiny Llama in AWQ GEMM layout (4-bit, groups of 64, zero point): random codes, small float16 scales."""
    model = AutoModelForCausalLM.from_config(CONFIG)
    tensors = {}
    for name, tensor in model.state_dict().items():
        module = name.removesuffix(".weight")
        if name.endswith("proj.weight"):
            out_features, in_features = tensor.shape
            groups = in_features // GROUP
            tensors[f"{module}.qweight"] = torch.randint(
                -(2**31), 2**31 - 1, (in_features, out_features // 8), dtype=torch.int32
            )
            tensors[f"{module}.qzeros"] = torch.full((groups, out_features // 8), 0x88888888 - 2**32, dtype=torch.int32)
            tensors[f"{module}.scales"] = (torch.rand(groups, out_features) * 0.01 + 0.001).half()
        else:
            tensors[name] = tensor.contiguous()
    save_file(tensors, f"{path}/model.safetensors", metadata={"format": "pt"})
    config = CONFIG.to_dict()
    config["quantization_config"] = {
        "quant_method": "awq",
        "bits": BITS,
        "group_size": GROUP,
        "zero_point": True,
        "version": "gemm",
    }
    config["architectures"] = ["LlamaForCausalLM"]
    with open(f"{path}/config.json", "w") as file:
        json.dump(config, file)


def main() -> int:
    torch.manual_seed(0)
    ids = torch.randint(0, CONFIG.vocab_size, (1, 16))
    with tempfile.TemporaryDirectory() as tmp:
        awq_checkpoint(tmp)
        model = AutoModelForCausalLM.from_pretrained(tmp, device_map="cpu").eval()
        kernel = type(model.model.layers[0].self_attn.k_proj).__name__
        with torch.no_grad():
            before = model(ids).logits
        model.save_pretrained(f"{tmp}/saved")
        name = "model.layers.0.self_attn.k_proj.qweight"
        shapes = []
        for path in (f"{tmp}/model.safetensors", f"{tmp}/saved/model.safetensors"):
            with safe_open(path, "pt") as file:
                shapes.append(tuple(file.get_slice(name).get_shape()))
        kernel += f", k_proj.qweight {shapes[0]} in the checkpoint, {shapes[1]} saved"
        try:
            reloaded = AutoModelForCausalLM.from_pretrained(f"{tmp}/saved", device_map="cpu").eval()
            with torch.no_grad():
                after = reloaded(ids).logits
        except Exception as error:  # a refused checkpoint is the finding
            print(f"kernel {kernel}: saved after a forward, reload fails: {type(error).__name__}: {str(error)[:60]}")
            return 1
    differ = (before != after).sum().item()
    print(f"kernel {kernel}: saved after a forward, reloads; {differ}/{before.numel()} logits differ")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
