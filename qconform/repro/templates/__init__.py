"""Script text per check kind: data, no logic (bodies by family in config, merge and model; helper blocks in
helpers). ``generate`` puts a header, the imports, the literal values a check used and these blocks together;
each block refers only to names the header and the values define.

Every script ends in the same ``main``: ``check()`` returns what breaks the contract (empty: it holds), an
exception is the deviation too, a missing package (``ImportError``) means this environment cannot run it.
The code here re-states what the qconform check asserts, in plain transformers calls (the checks' own
helpers stay in qconform: a script must not import it).
"""

from __future__ import annotations

from dataclasses import dataclass

from qconform.repro.templates.config import (
    IDEMPOTENT,
    INVALID_REFUSED,
    KEEPS_TYPES,
    SAME_CLASS_AND_DICT,
    TO_DICT_IS_JSON,
    TO_JSON_STRING,
)
from qconform.repro.templates.helpers import HELPERS
from qconform.repro.templates.merge import (
    DISPATCH_FOLLOWS_CONFIG,
    MERGE_DICT_AND_OBJECT,
    MERGE_IDEMPOTENT,
    MERGE_INPUTS_UNCHANGED,
    MERGE_KEEPS_CLASS,
    MERGE_LOADING_ATTRIBUTES,
    MERGE_REFUSES_ANOTHER_CLASS,
    SUPPORTS_QUANT_METHOD,
)
from qconform.repro.templates.model import (
    BACKWARD,
    DEQUANTIZE,
    FORWARD_DETERMINISTIC,
    IS_SERIALIZABLE,
    KEEP_IN_FP32,
    OUTPUT_EMBEDDING,
    SAVE_RELOAD,
    SKIP_LIST,
)

__all__ = ["COMMON", "CONFIGS", "HELPERS", "INVALID", "MAIN", "MODEL", "TEMPLATES", "Template"]

CONFIGS, INVALID, MODEL = "configs", "invalid", "model"  # what a template needs from the record's target


@dataclass(frozen=True)
class Template:
    """One check kind: the contract in a sentence, what the script needs, its helper blocks and its body."""

    contract: str
    needs: str
    helpers: tuple[str, ...]
    body: str
    pairs: bool = False  # a merge check: every (checkpoint config, argument config) pair


COMMON = '''
def first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0][:300] if text else ""


def run_cases(cases, contract) -> list[str]:
    """contract(*args) for each (label, args): what breaks it, as lines; raising breaks it too."""
    problems = []
    for label, args in cases:
        try:
            lines = contract(*args)
        except ImportError:
            raise
        except Exception as error:
            lines = [f"raised {type(error).__name__}: {first_line(error)}"]
        print(f"  {label}: {'; '.join(lines) if lines else 'holds'}")
        problems += [f"{label}: {line}" for line in lines]
    return problems
'''

MAIN = """
def main() -> int:
    print(f"{METHOD}: {CHECK}: {CONTRACT}")
    try:
        problems = check()
    except ImportError as error:
        unusable(f"{type(error).__name__}: {error}")
    except Exception as error:
        problems = [f"raised {type(error).__name__}: {first_line(error)}"]
    if problems:
        print(f"deviation holds: {len(problems)} problem(s), the first: {problems[0]}")
        return 1
    print("the contract holds: the deviation is fixed here")
    return 0


if __name__ == "__main__":
    sys.exit(main())
"""

CONFIG_HELPERS = ("configs", "compare")
MERGE_HELPERS = ("configs", "compare", "merge")

TEMPLATES: dict[str, Template] = {
    "test_to_dict_is_json": Template("to_dict() is plain JSON", CONFIGS, CONFIG_HELPERS, TO_DICT_IS_JSON),
    "test_round_trip_same_class_and_dict": Template(
        "to_dict -> JSON -> AutoQuantizationConfig.from_dict gives the same class and dict",
        CONFIGS,
        CONFIG_HELPERS,
        SAME_CLASS_AND_DICT,
    ),
    "test_round_trip_keeps_types": Template(
        "values keep their types through config.json", CONFIGS, CONFIG_HELPERS, KEEPS_TYPES
    ),
    "test_round_trip_idempotent": Template(
        "a second trip through config.json changes nothing", CONFIGS, CONFIG_HELPERS, IDEMPOTENT
    ),
    "test_to_json_string_parses": Template(
        "to_json_string() is a JSON object and agrees with to_dict()", CONFIGS, CONFIG_HELPERS, TO_JSON_STRING
    ),
    "test_invalid_config_refused": Template(
        "an invalid config is refused with ValueError or TypeError naming the field", INVALID, (), INVALID_REFUSED
    ),
    "test_merge_keeps_checkpoint_class": Template(
        "merge_quantization_configs gives the checkpoint's config class",
        CONFIGS,
        MERGE_HELPERS,
        MERGE_KEEPS_CLASS,
        True,
    ),
    "test_merge_takes_loading_attributes_from_argument": Template(
        "the merged config takes loading attributes from the argument, the rest from the checkpoint",
        CONFIGS,
        MERGE_HELPERS,
        MERGE_LOADING_ATTRIBUTES,
        True,
    ),
    "test_merge_leaves_inputs_unchanged": Template(
        "merge_quantization_configs changes neither of its inputs", CONFIGS, MERGE_HELPERS, MERGE_INPUTS_UNCHANGED, True
    ),
    "test_merge_is_idempotent": Template(
        "merging the merged (saved) config again with the same argument changes nothing",
        CONFIGS,
        MERGE_HELPERS,
        MERGE_IDEMPOTENT,
        True,
    ),
    "test_merge_dict_and_object_agree": Template(
        "a config.json dict and the equivalent object merge alike", CONFIGS, MERGE_HELPERS, MERGE_DICT_AND_OBJECT, True
    ),
    "test_merge_refuses_another_class": Template(
        "merging configs of two classes raises ValueError", CONFIGS, MERGE_HELPERS, MERGE_REFUSES_ANOTHER_CLASS
    ),
    "test_supports_quant_method": Template(
        "supports_quant_method is True for a saved config, False (with a warning) for an unregistered method",
        CONFIGS,
        MERGE_HELPERS,
        SUPPORTS_QUANT_METHOD,
    ),
    "test_dispatch_follows_config": Template(
        "AutoHfQuantizer.from_config dispatches the method's configs to its quantizer",
        CONFIGS,
        MERGE_HELPERS,
        DISPATCH_FOLLOWS_CONFIG,
    ),
    "test_save_reload_bit_identical": Template(
        "after a forward, save_pretrained then from_pretrained gives the same logits bit for bit",
        MODEL,
        ("model",),
        SAVE_RELOAD,
    ),
    "test_forward_runs_deterministically": Template(
        "forward gives finite logits of the right shape, the same twice where the method is deterministic",
        MODEL,
        ("model",),
        FORWARD_DETERMINISTIC,
    ),
    "test_is_serializable_agrees_with_spec": Template(
        "the loaded model's hf_quantizer.is_serializable() says what the method declares",
        MODEL,
        ("model",),
        IS_SERIALIZABLE,
    ),
    "test_output_embedding_stays_full_precision": Template(
        "with the default config the output embedding stays full precision (and tied where it was)",
        MODEL,
        ("model",),
        OUTPUT_EMBEDDING,
    ),
    "test_keep_in_fp32_modules_stay_full_precision": Template(
        "modules in _keep_in_fp32_modules are not quantized and stay float32 in a float16 load",
        MODEL,
        ("model",),
        KEEP_IN_FP32,
    ),
    "test_skip_list_respected": Template(
        "listed modules stay full precision, every other Linear is quantized, the logits stay within the bound",
        MODEL,
        ("model",),
        SKIP_LIST,
    ),
    "test_dequantize_matches_quantized": Template(
        "model.dequantize() leaves plain Linear modules and the same logits within the bound",
        MODEL,
        ("model",),
        DEQUANTIZE,
    ),
    "test_backward_gives_finite_gradients": Template(
        "a training step gives a finite loss, finite gradients, and a gradient back to the input embedding",
        MODEL,
        ("model",),
        BACKWARD,
    ),
}
