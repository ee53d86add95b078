"""transformers SinqConfig: every save and reload nests another _extra_kwargs level into config.json.

What breaks: SinqConfig.__init__ keeps unknown keyword arguments, quant_method among them, in _extra_kwargs, and
to_dict writes _extra_kwargs out. Reading config.json back (SinqConfig.from_dict, as from_pretrained does) passes
quant_method and _extra_kwargs as keyword arguments again, so each save/reload cycle adds a level:
{'_extra_kwargs': {'quant_method': 'sinq', '_extra_kwargs': {'quant_method': 'sinq', ...}}}. The config is never
stable, and merge_quantization_configs of a dict and of the equivalent object disagree.
Found by: qconform checks test_round_trip_idempotent, test_round_trip_same_class_and_dict, test_merge_is_idempotent,
test_merge_dict_and_object_agree
Spec entry: qconform/specs/misc.py:SPECS (sinq, the four round-trip and merge checks)
Severity: silent wrong results or data loss (config.json changes at every save; the weights are not affected)
Affected releases: transformers 5.17.0, 5.19.0, 5.21.1, 5.23.0, 5.25.0
  (exit codes measured by releases.sh: 5.17.0: 1, 5.19.0: 1, 5.21.1: 1, 5.23.0: 1, 5.25.0: 1;
  with no backend, torch 2.13.0+cpu)
Expected: to_dict -> config.json -> from_dict -> to_dict gives the same dict, cycle after cycle.
Exit: 1 while the deviation holds, 0 once fixed, 2 if this transformers has no SinqConfig.
"""

import sys
import tempfile

from transformers import AutoConfig, LlamaConfig

try:
    from transformers.utils.quantization_config import SinqConfig
except ImportError as error:
    print(f"backend unusable: {error}")
    sys.exit(2)


def depth(extra: dict) -> int:
    """How many _extra_kwargs levels a config dict holds."""
    return 0 if not isinstance(extra, dict) or "_extra_kwargs" not in extra else 1 + depth(extra["_extra_kwargs"])


def main() -> int:
    config = LlamaConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=1, num_attention_heads=4)
    quantization = SinqConfig(nbits=4, group_size=64)
    first = quantization.to_dict()
    depths = []
    with tempfile.TemporaryDirectory() as tmp:
        for cycle in range(3):
            config.quantization_config = quantization
            config.save_pretrained(f"{tmp}/{cycle}")  # what save_pretrained writes to config.json
            saved = AutoConfig.from_pretrained(f"{tmp}/{cycle}").quantization_config
            depths.append(depth(saved))
            quantization = SinqConfig.from_dict(saved)  # what from_pretrained builds from config.json
    last = quantization.to_dict()
    print(
        f"SinqConfig through config.json 3 times: _extra_kwargs nesting depth {depths}; "
        f"last _extra_kwargs {last.get('_extra_kwargs')}"
    )
    return 1 if last != first else 0


if __name__ == "__main__":
    sys.exit(main())
