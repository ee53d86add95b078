"""Helper blocks a template names (``Template.helpers``): script text, no logic; each refers only to names the
script header and the record's values define."""

from __future__ import annotations

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
