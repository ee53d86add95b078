"""Script text per check kind: data, no logic. ``generate`` puts a header, the imports, the literal values a
check used and these blocks together; each block refers only to names the header and the values define.

Every script ends in the same ``main``: ``check()`` returns what breaks the contract (empty: it holds), an
exception is the deviation too, a missing package (``ImportError``) means this environment cannot run it.
The code here re-states what the qconform check asserts, in plain transformers calls (the checks' own
helpers stay in qconform: a script must not import it).
"""

from __future__ import annotations

from dataclasses import dataclass

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

HELPERS = {
    "configs": '''
def labelled_configs() -> list:
    """(label, config) for each config qconform fed the check (the spec's default first)."""
    return [(f"{CONFIG_CLASS.__name__}(**{kwargs!r})", CONFIG_CLASS(**copy.deepcopy(kwargs))) for kwargs in CONFIGS]


def single_cases() -> list:
    return [(label, (config,)) for label, config in labelled_configs()]


def pair_cases() -> list:
    """Every (checkpoint config, argument config) pair, as the merge checks draw two configs."""
    found = labelled_configs()
    return [
        (f"checkpoint {a_label}, argument {b_label}", (copy.deepcopy(a), copy.deepcopy(b)))
        for a_label, a in found
        for b_label, b in found
    ]
''',
    "compare": '''
def json_round_trip(value):
    """What a value becomes after strict JSON text (config.json)."""
    return json.loads(json.dumps(value, allow_nan=False))


def differences(before, after, path: str = "") -> list[str]:
    """Every place where ``after`` differs from ``before`` in value or in type, as readable lines."""
    where = path or "<root>"
    if isinstance(before, dict) and isinstance(after, dict):
        lines = []
        for key in sorted(set(before) | set(after), key=str):
            sub = f"{path}.{key}" if path else str(key)
            if key not in after:
                lines.append(f"{sub}: lost (was {before[key]!r})")
            elif key not in before:
                lines.append(f"{sub}: appeared ({after[key]!r})")
            else:
                lines += differences(before[key], after[key], sub)
        return lines
    if isinstance(before, (list, tuple)) and isinstance(after, (list, tuple)) and type(before) is type(after):
        if len(before) != len(after):
            return [f"{where}: length {len(before)} -> {len(after)} ({before!r} -> {after!r})"]
        return [line for i, (b, a) in enumerate(zip(before, after)) for line in differences(b, a, f"{where}[{i}]")]
    if type(before) is not type(after) and not (isinstance(before, str) and isinstance(after, str)):
        return [f"{where}: type {type(before).__name__} -> {type(after).__name__} ({before!r} -> {after!r})"]
    if before != after and not (before != before and after != after):  # NaN equals NaN here
        return [f"{where}: {before!r} -> {after!r}"]
    return []


def round_trip(config):
    """to_dict -> JSON text -> AutoQuantizationConfig.from_dict, as from_pretrained reads config.json."""
    return AutoQuantizationConfig.from_dict(json_round_trip(config.to_dict()))
''',
    "merge": '''
def merge(checkpoint, argument):
    """What from_pretrained does with a checkpoint's quantization config and the one passed to it."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return AutoHfQuantizer.merge_quantization_configs(checkpoint, argument)


def as_saved(config) -> dict:
    """The config as config.json holds it."""
    return json_round_trip(config.to_dict())


def checkpoint_side(config, form: str):
    """The checkpoint's config as get_hf_quantizer may find it: its config.json dict, or the object itself."""
    return as_saved(config) if form == "dict" else copy.deepcopy(config)


def safe(value):
    try:
        return json_round_trip(value)
    except (TypeError, ValueError):
        return repr(value)


def snapshot(value):
    """Everything an input holds: a dict as is, an object's attributes (to_dict may leave some out)."""
    if isinstance(value, dict):
        return copy.deepcopy(value)
    return {key: safe(item) for key, item in sorted(vars(value).items())}


def without(d: dict, keys) -> dict:
    return {k: v for k, v in d.items() if k not in keys}


def loading_differences(merged, argument, names) -> list[str]:
    lines = []
    for name in names:
        want, got = getattr(argument, name, "<absent>"), getattr(merged, name, "<absent>")
        if safe(want) != safe(got):
            lines.append(f"{name}: argument has {want!r}, merged config has {got!r}")
    return lines
''',
    "model": '''
FLOATS = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
FULL, QUANTIZED, HALF = "full precision", "quantized", "converted but holding a full-precision weight"


def full_precision_checkpoint(tmp: str) -> str:
    """qconform's tiny model (seeded random init), saved in full precision."""
    torch.manual_seed(SEED)
    model = AutoModelForCausalLM.from_config(MODEL_CONFIG_CLASS(**MODEL_CONFIG), dtype=torch.float32).eval()
    path = f"{tmp}/full-precision"
    model.save_pretrained(path)
    return path


def quantization_config(**changes):
    config = CONFIG_CLASS(**copy.deepcopy(CONFIG))
    for name, value in changes.items():
        setattr(config, name, value)
    return config


def load(path: str, config, dtype=None, keep_in_fp32=()):
    """from_pretrained as qconform loads the tiny model: the whole model on DEVICE."""
    cls = MODEL_CLASS
    if keep_in_fp32:
        cls = type(f"KeepFp32{cls.__name__}", (cls,), {"_keep_in_fp32_modules": list(keep_in_fp32)})
    kwargs = {"device_map": {"": DEVICE}}
    if dtype is not None:
        kwargs["dtype"] = dtype
    if config is not None:
        kwargs["quantization_config"] = config
    return cls.from_pretrained(path, **kwargs).eval()


def input_ids():
    generator = torch.Generator().manual_seed(0)
    return torch.randint(0, MODEL_CONFIG_CLASS(**MODEL_CONFIG).vocab_size, (2, 8), generator=generator)


def logits(model):
    with torch.no_grad():
        return model(input_ids().to(model.device)).logits.float().cpu()


def forward(model):
    """(logits, problems): a forward that raises or gives NaN or inf is a problem."""
    try:
        out = logits(model)
    except ImportError:
        raise
    except Exception as error:
        return None, [f"forward failed: {type(error).__name__}: {first_line(error)}"]
    if not bool(torch.isfinite(out).all()):
        return out, [f"forward gave NaN or inf logits ({int((~torch.isfinite(out)).sum())}/{out.numel()})"]
    return out, []


def bit_difference(a, b) -> str:
    """Empty when a and b are bit-identical (NaN equals NaN), else how they differ."""
    if a.shape != b.shape or a.dtype != b.dtype:
        return f"shape/dtype {tuple(a.shape)} {a.dtype} vs {tuple(b.shape)} {b.dtype}"
    same = (a == b) | (a.isnan() & b.isnan())
    if bool(same.all()):
        return ""
    gap = (a.double() - b.double()).abs()[~same].nan_to_num(nan=float("inf")).max().item()
    return f"{int((~same).sum())}/{a.numel()} elements differ, largest difference {gap:.3g}"


def rel_frobenius(reference, approx) -> float:
    ref, app = reference.double(), approx.double()
    diff, norm = torch.linalg.vector_norm(app - ref).item(), torch.linalg.vector_norm(ref).item()
    if norm == 0 or norm != norm or norm == float("inf"):
        return 0.0 if diff == 0 else float("inf")
    return diff / norm


def state_of(model, name: str) -> str:
    """FULL: a plain nn.Linear with a floating weight; QUANTIZED: replaced or holding a quantized weight;
    HALF: a replacement module that still holds a plain floating weight."""
    try:
        module = model.get_submodule(name)
    except AttributeError:
        return "missing"
    weight = getattr(module, "weight", None)
    plain = isinstance(weight, torch.Tensor) and type(weight) in (torch.Tensor, torch.nn.Parameter)
    plain = plain and weight.dtype in FLOATS
    if type(module) is torch.nn.Linear and plain:
        return FULL
    return HALF if plain else QUANTIZED
''',
}

# ---- bodies: config ----------------------------------------------------------------------------------------

TO_DICT_IS_JSON = """
def contract(config) -> list[str]:
    try:
        json.dumps(config.to_dict(), allow_nan=False)
    except (TypeError, ValueError) as error:
        return [f"to_dict() is not plain JSON: {error}"]
    return []


def check() -> list[str]:
    return run_cases(single_cases(), contract)
"""

SAME_CLASS_AND_DICT = """
def contract(config) -> list[str]:
    before = json_round_trip(config.to_dict())
    again = round_trip(config)
    lines = []
    if type(again) is not type(config):
        lines.append(f"from_dict(to_dict()) gives {type(again).__name__}, not {type(config).__name__}")
    return lines + differences(before, json_round_trip(again.to_dict()))


def check() -> list[str]:
    return run_cases(single_cases(), contract)
"""

KEEPS_TYPES = """
def contract(config) -> list[str]:
    return [line for line in differences(config.to_dict(), round_trip(config).to_dict()) if ": type " in line]


def check() -> list[str]:
    return run_cases(single_cases(), contract)
"""

IDEMPOTENT = """
def contract(config) -> list[str]:
    once = round_trip(config)
    twice = round_trip(once)
    return [f"a second round trip changed {line}" for line in differences(once.to_dict(), twice.to_dict())]


def check() -> list[str]:
    return run_cases(single_cases(), contract)
"""

TO_JSON_STRING = """
def contract(config) -> list[str]:
    lines = []
    for use_diff in (True, False):
        text = config.to_json_string(use_diff=use_diff)
        try:
            parsed = json.loads(text)
        except ValueError as error:
            lines.append(f"to_json_string(use_diff={use_diff}) is not JSON: {error}")
            continue
        if not isinstance(parsed, dict):
            lines.append(f"to_json_string(use_diff={use_diff}) is not a JSON object")
    full = json.loads(config.to_json_string(use_diff=False))
    disagree = differences(json_round_trip(config.to_dict()), full)
    return lines + [f"to_json_string disagrees with to_dict: {line}" for line in disagree]


def check() -> list[str]:
    return run_cases(single_cases(), contract)
"""

INVALID_REFUSED = '''
def names_field(message: str, field: str) -> bool:
    """The message names the field: its name, or all of its words (quant_type ~ "quantization type")."""
    text = message.lower()
    words = [w for w in field.lower().split("_") if w]
    return field.lower() in text or all(w in text for w in words)


def contract(kwargs: dict, field: str) -> list[str]:
    try:
        config = CONFIG_CLASS(**copy.deepcopy(kwargs))
    except (ValueError, TypeError) as error:
        if names_field(str(error), field):
            return []
        return [f"refused with {type(error).__name__}: {first_line(error)!r}, which does not name {field!r}"]
    except ImportError:
        raise
    except Exception as error:
        return [f"refused with {type(error).__name__}, not ValueError/TypeError: {first_line(error)}"]
    shown = " ".join(repr(config).split())  # one line: some reprs are indented JSON
    return [f"accepted, although invalid for {field!r}: {shown}"[:300]]


def check() -> list[str]:
    cases = [(f"{CONFIG_CLASS.__name__}(**{kwargs!r})", (kwargs, field)) for kwargs, field in INVALID]
    return run_cases(cases, contract)
'''

# ---- bodies: merge and dispatch ----------------------------------------------------------------------------

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

# ---- bodies: models ----------------------------------------------------------------------------------------

SAVE_RELOAD = """
def check() -> list[str]:
    with tempfile.TemporaryDirectory() as tmp:
        model = load(full_precision_checkpoint(tmp), quantization_config())
        before, problems = forward(model)  # a forward first, as in real use
        if problems:
            return problems
        model.save_pretrained(f"{tmp}/quantized")
        again = AutoModelForCausalLM.from_pretrained(f"{tmp}/quantized", device_map={"": DEVICE}).eval()
        after, problems = forward(again)
        if problems:
            return [f"reloaded: {line}" for line in problems]
    difference = bit_difference(before, after)
    print(f"  logits before save_pretrained and after from_pretrained: {difference or 'bit-identical'}")
    return [f"the reloaded {ARCH} model gives different logits: {difference}"] if difference else []
"""

FORWARD_DETERMINISTIC = """
def check() -> list[str]:
    with tempfile.TemporaryDirectory() as tmp:
        model = load(full_precision_checkpoint(tmp), quantization_config())
    first, problems = forward(model)
    if problems:
        return problems
    vocab = model.config.vocab_size
    if first.shape[-1] != vocab:
        return [f"logits have {first.shape[-1]} columns for a vocabulary of {vocab}"]
    if DETERMINISTIC:
        difference = bit_difference(first, logits(model))
        print(f"  a second forward: {difference or 'bit-identical'}")
        if difference:
            return [f"a second forward on the same input gave different logits: {difference}"]
    return []
"""

IS_SERIALIZABLE = """
def check() -> list[str]:
    with tempfile.TemporaryDirectory() as tmp:
        model = load(full_precision_checkpoint(tmp), quantization_config())
    said = bool(model.hf_quantizer.is_serializable())
    print(f"  is_serializable() returns {said}; declared serializable={DECLARED_SERIALIZABLE}")
    if said != DECLARED_SERIALIZABLE:
        return [f"is_serializable() returns {said}, declared {DECLARED_SERIALIZABLE}"]
    return []
"""

OUTPUT_EMBEDDING = """
def check() -> list[str]:
    with tempfile.TemporaryDirectory() as tmp:
        model = load(full_precision_checkpoint(tmp), quantization_config())
    state = state_of(model, HEAD)
    print(f"  {HEAD}: {state} ({type(model.get_submodule(HEAD)).__name__})")
    problems = [] if state == FULL else [f"the output embedding {HEAD!r} is {state}, not full precision"]
    if model.config.tie_word_embeddings:
        out_w, in_w = model.get_output_embeddings().weight, model.get_input_embeddings().weight
        if not (out_w is in_w or out_w.data_ptr() == in_w.data_ptr()):
            problems.append("the tied output embedding was untied")
    return problems
"""

KEEP_IN_FP32 = """
def check() -> list[str]:
    with tempfile.TemporaryDirectory() as tmp:
        model = load(full_precision_checkpoint(tmp), quantization_config(), torch.float16, keep_in_fp32=KEEP)
    upcast = model.get_input_embeddings().weight.dtype == torch.float16  # unless update_dtype chose another
    wrong = []
    for name in KEPT:
        state = state_of(model, name)
        print(f"  {name}: {state}, {getattr(model.get_submodule(name), 'weight', None).__class__.__name__}")
        if state != FULL:
            wrong.append(f"{name}: {state}")
        elif upcast and model.get_submodule(name).weight.dtype != torch.float32:
            wrong.append(f"{name}: dtype {model.get_submodule(name).weight.dtype}, expected torch.float32")
    return [f"_keep_in_fp32_modules={list(KEEP)} not honoured: {line}" for line in wrong]
"""

SKIP_LIST = """
def contract(path: str, reference, skip: list, expected_full: list) -> list[str]:
    model = load(path, quantization_config(**{SKIP_FIELD: skip}))
    either = set() if HEAD in expected_full else {HEAD}  # an unlisted output embedding may go either way
    wrong = []
    for name in LINEARS:
        if name in either:
            continue
        want = FULL if name in expected_full else QUANTIZED
        state = state_of(model, name)
        if state != want:
            wrong.append(f"{name}: {state}, expected {want}")
    if wrong:
        return [f"the wrong modules were quantized: {', '.join(wrong)}"]
    out, problems = forward(model)
    if problems:
        return problems
    drift = rel_frobenius(reference, out)
    return [] if drift <= DRIFT_BOUND else [f"logits drift {drift:.3g} from full precision, bound {DRIFT_BOUND}"]


def check() -> list[str]:
    with tempfile.TemporaryDirectory() as tmp:
        path = full_precision_checkpoint(tmp)
        reference = logits(load(path, None))
        cases = [(f"{SKIP_FIELD}={skip!r}", (path, reference, skip, full)) for skip, full in SKIP_CASES]
        return run_cases(cases, contract)
"""

DEQUANTIZE = """
def check() -> list[str]:
    with tempfile.TemporaryDirectory() as tmp:
        model = load(full_precision_checkpoint(tmp), quantization_config())
    quantized, problems = forward(model)
    if problems:
        return problems
    model.dequantize()
    left = [f"{name}: {state}" for name in LINEARS if (state := state_of(model, name)) != FULL]
    if left:
        return [f"dequantize() left modules that are not plain full-precision Linear: {', '.join(left)}"]
    if getattr(model, "is_quantized", False):
        return ["model.is_quantized is still True after dequantize()"]
    plain, problems = forward(model)
    if problems:
        return [f"dequantized: {line}" for line in problems]
    gap = rel_frobenius(quantized, plain)
    bound = 2 * FORWARD_REL_ERROR if FORWARD_REL_ERROR is not None else max(16 * torch.finfo(model.dtype).eps, 1e-5)
    print(f"  dequantized logits differ from quantized ones by {gap:.3g} (relative), bound {bound:.3g}")
    return [] if gap <= bound else [f"dequantized logits differ by {gap:.3g} (relative), bound {bound:.3g}"]
"""

BACKWARD = """
def check() -> list[str]:
    with tempfile.TemporaryDirectory() as tmp:
        model = load(full_precision_checkpoint(tmp), quantization_config())
    if not model.hf_quantizer.is_trainable:
        return ["the method is declared trainable but hf_quantizer.is_trainable is False"]
    model.train()
    trainable = {n: p for n, p in model.named_parameters() if p.requires_grad and p.dtype in FLOATS}
    if not trainable:
        return ["the quantized model has no trainable floating-point parameter"]
    embedded = {}

    def keep_output(module, args, output):
        if output.requires_grad:
            output.retain_grad()
        embedded["output"] = output

    handle = model.get_input_embeddings().register_forward_hook(keep_output)
    try:
        ids = input_ids().to(model.device)
        loss = model(ids, labels=ids).loss
    finally:
        handle.remove()
    if not bool(torch.isfinite(loss)):
        return [f"the loss is not finite: {loss.item()}"]
    loss.backward()
    bad = [n for n, p in trainable.items() if p.grad is not None and not bool(torch.isfinite(p.grad).all())]
    if bad:
        return [f"non-finite gradients: {', '.join(bad)}"]
    grad = embedded["output"].grad
    if grad is None or not bool(torch.isfinite(grad).all()) or not bool(grad.abs().sum() > 0):
        return ["no finite, non-zero gradient crossed the quantized layers back to the input embedding"]
    print(f"  loss {loss.item():.4g}, {len(trainable)} trainable parameters with finite gradients")
    return []
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
