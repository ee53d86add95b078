"""Script bodies for the merge and dispatch checks: text, no logic."""

from __future__ import annotations

MERGE_KEEPS_CLASS = """
def contract(checkpoint, argument) -> list[str]:
    merged = merge(as_saved(checkpoint), argument)
    expected = AUTO_QUANTIZATION_CONFIG_MAPPING[METHOD]
    if type(merged) is not expected:
        return [f"merged config is {type(merged).__name__}, not the checkpoint's {expected.__name__}"]
    return []


def check() -> list[str]:
    return run_cases(pair_cases(), contract)
"""

MERGE_LOADING_ATTRIBUTES = """
def contract(checkpoint_config, argument) -> list[str]:
    checkpoint = checkpoint_side(checkpoint_config, FORM)
    if FORM == "object":
        expected_rest = without(as_saved(checkpoint), LOADING_ATTRIBUTES)
    else:
        expected_rest = without(as_saved(merge(copy.deepcopy(checkpoint), None)), LOADING_ATTRIBUTES)
    merged = merge(copy.deepcopy(checkpoint), argument)
    lines = loading_differences(merged, argument, LOADING_ATTRIBUTES)
    rest = differences(expected_rest, without(as_saved(merged), LOADING_ATTRIBUTES))
    return lines + [f"non-loading {line}" for line in rest]


def check() -> list[str]:
    print(f"loading attributes (from the argument): {list(LOADING_ATTRIBUTES)}; the checkpoint side is a {FORM}")
    return run_cases(pair_cases(), contract)
"""

MERGE_INPUTS_UNCHANGED = """
def contract(checkpoint_config, argument) -> list[str]:
    checkpoint = checkpoint_side(checkpoint_config, FORM)
    before_checkpoint, before_argument = snapshot(checkpoint), snapshot(argument)
    merge(checkpoint, argument)
    lines = [f"checkpoint {FORM}: {line}" for line in differences(before_checkpoint, snapshot(checkpoint))]
    return lines + [f"argument: {line}" for line in differences(before_argument, snapshot(argument))]


def check() -> list[str]:
    print(f"the checkpoint side is a {FORM}")
    return run_cases(pair_cases(), contract)
"""

MERGE_IDEMPOTENT = """
def contract(checkpoint_config, argument) -> list[str]:
    checkpoint = as_saved(checkpoint_config)
    once = merge(copy.deepcopy(checkpoint), copy.deepcopy(argument))
    twice = merge(as_saved(once), copy.deepcopy(argument))
    lines = []
    if type(once) is not type(twice):
        lines.append(f"a second merge changed the class: {type(once).__name__} -> {type(twice).__name__}")
    lines += differences(as_saved(once), as_saved(twice))
    return lines + loading_differences(twice, once, LOADING_ATTRIBUTES)


def check() -> list[str]:
    return run_cases(pair_cases(), contract)
"""

MERGE_DICT_AND_OBJECT = """
def contract(checkpoint_config, argument) -> list[str]:
    from_dict = merge(checkpoint_side(checkpoint_config, "dict"), copy.deepcopy(argument))
    from_object = merge(checkpoint_side(checkpoint_config, "object"), copy.deepcopy(argument))
    lines = []
    if type(from_dict) is not type(from_object):
        lines.append(f"dict -> {type(from_dict).__name__}, object -> {type(from_object).__name__}")
    lines += differences(as_saved(from_dict), as_saved(from_object))
    return lines + loading_differences(from_object, from_dict, LOADING_ATTRIBUTES)


def check() -> list[str]:
    return run_cases(pair_cases(), contract)
"""

MERGE_REFUSES_ANOTHER_CLASS = '''
def foreign_configs() -> list:
    """Configs of other methods, built without any backend."""
    import transformers.utils.quantization_config as qc

    return [qc.EetqConfig(), qc.AqlmConfig(), qc.SpQRConfig(), qc.BitNetQuantConfig(), qc.VptqConfig()]


def contract(config) -> list[str]:
    silent = []
    for other in (c for c in foreign_configs() if type(c) is not type(config)):
        for checkpoint, argument in ((as_saved(config), other), (as_saved(other), config)):
            try:
                merge(checkpoint, copy.deepcopy(argument))
            except ValueError:
                continue
            silent.append(f"{type(argument).__name__} argument on a {checkpoint.get('quant_method')} checkpoint merged")
    return silent


def check() -> list[str]:
    return run_cases(single_cases(), contract)
'''

SUPPORTS_QUANT_METHOD = """
class Messages(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages = []

    def emit(self, record) -> None:
        self.messages.append(record.getMessage())


def contract(config) -> list[str]:
    lines = []
    saved = as_saved(config)
    if AutoHfQuantizer.supports_quant_method(copy.deepcopy(saved)) is not True:
        lines.append(f"supports_quant_method is not True for quant_method={saved.get('quant_method')!r}")
    unknown = {"quant_method": f"{METHOD}-unregistered"}
    handler = Messages()
    logger = logging.getLogger("transformers.quantizers.auto")
    logger.addHandler(handler)
    try:
        supported = AutoHfQuantizer.supports_quant_method(unknown)
    finally:
        logger.removeHandler(handler)
    if supported is not False:
        lines.append(f"supports_quant_method is not False for {unknown!r}")
    if not any(unknown["quant_method"] in m for m in handler.messages):
        lines.append("no warning names the unregistered method")
    return lines


def check() -> list[str]:
    return run_cases(single_cases(), contract)
"""

DISPATCH_FOLLOWS_CONFIG = """
def contract(config) -> list[str]:
    expected = AUTO_QUANTIZER_MAPPING[METHOD]
    lines = []
    for what, given in (("object", config), ("config.json dict", as_saved(config))):
        built = AutoHfQuantizer.from_config(copy.deepcopy(given), pre_quantized=True)
        if type(built) is not expected:
            lines.append(f"a {what} dispatches to {type(built).__name__}, not {expected.__name__}")
    return lines


def check() -> list[str]:
    return run_cases(single_cases(), contract)
"""
