"""Declarative facts about one quantization method: what the checks may assume, and what they must not.

A spec is data. Checks read capabilities from it to decide whether they apply; they never test a
method's name. Anything a method does that contradicts the contract is not written here as the
contract: it is a ``KnownDeviation`` with its reason and evidence, applied as a strict xfail so that a
deviation that stops happening is reported.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.metadata
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hypothesis.strategies import SearchStrategy


@dataclass(frozen=True)
class Requirement:
    """A package a method needs at run time."""

    import_name: str
    distribution: str
    min_version: str | None = None
    install_hint: str = ""
    # other distributions that install the same import (fbgemm-gpu-genai provides fbgemm_gpu too)
    alternatives: tuple[str, ...] = ()

    @property
    def hint(self) -> str:
        if self.install_hint:
            return self.install_hint
        pin = f">={self.min_version}" if self.min_version else ""
        return f"pip install '{self.distribution}{pin}'"

    def installed_version(self) -> str | None:
        """The installed version (of the first distribution found), or None; reads metadata, never imports."""
        for name in (self.distribution, *self.alternatives):
            try:
                return importlib.metadata.version(name)
            except importlib.metadata.PackageNotFoundError:
                continue
        return None

    def missing_reason(self) -> str | None:
        """Why this requirement is not met here, or None when it is."""
        version = self.installed_version()
        if version is None:
            return f"{self.distribution} is not installed ({self.hint})"
        if self.min_version is not None:
            from packaging.version import Version

            if Version(version) < Version(self.min_version):
                return f"{self.distribution} {version} is older than {self.min_version} ({self.hint})"
        return None


@dataclass(frozen=True)
class Capabilities:
    """What a method can do; checks declare which of these they need (see ``CAPABILITY_NAMES``).

    Each is a fact an author may state; ``None`` (the default) means "find out": qconform reads it from the
    quantizer and its config (``qconform.discovery``), and a stated value that contradicts what the
    quantizer says of itself is reported as a finding.
    """

    quantizes_on_the_fly: bool | None = None
    serializable: bool | None = None
    deterministic: bool | None = None
    trainable: bool | None = None
    dequantizable: bool | None = None
    needs_accelerator: bool | None = None
    loads_prequantized: bool | None = None  # a checkpoint saved quantized loads back through the dispatch

    def over(self, found: Capabilities) -> Capabilities:
        """These facts where stated, ``found``'s elsewhere."""
        return Capabilities(
            **{
                name: found_value if (value := getattr(self, name)) is None else value
                for name in CAPABILITY_NAMES
                for found_value in [getattr(found, name)]
            }
        )

    def stated(self) -> dict[str, bool]:
        return {name: value for name in sorted(CAPABILITY_NAMES) if (value := getattr(self, name)) is not None}

    def lacking(self, needed: tuple[str, ...]) -> list[str]:
        for name in needed:
            if name not in CAPABILITY_NAMES:
                raise ValueError(f"unknown capability {name!r}; known: {sorted(CAPABILITY_NAMES)}")
        return [name for name in needed if not getattr(self, name)]


CAPABILITY_NAMES = frozenset(f.name for f in dataclasses.fields(Capabilities))
# what the contract expects of a quantizer that says nothing else: quantize on load, save, reload, compute the
# same twice; training, dequantizing and needing an accelerator are what a method must show or state
CONTRACT_DEFAULTS = Capabilities(
    quantizes_on_the_fly=True,
    serializable=True,
    deterministic=True,
    trainable=False,
    dequantizable=False,
    needs_accelerator=False,
    loads_prequantized=True,
)


EXACT, ROUNDING, SEARCH = "exact", "rounding", "search"


@dataclass(frozen=True)
class AcrossDevices:
    """What quantizing on an accelerator promises against quantizing the same weight on the CPU.

    ``exact``: the same stored values (a zero's sign aside). ``rounding``: the two float paths may round
    a scale or a ratio differently (one ulp, a tie), so codes may land one step apart: the two
    dequantized weights differ by at most ``ROUNDING_SHARE`` of the quantization error. ``search``: the
    method searches (an optimiser, error feedback, k-means, a grid) and one different rounding sends it
    elsewhere: only the quality is promised, each device's error within ``SEARCH_SHARE`` of the other's.
    ``reason`` and ``evidence`` say why a method is not ``exact`` (measured, with the run that showed it).
    """

    level: str = EXACT
    reason: str = ""
    evidence: str = ""

    def __post_init__(self) -> None:
        if self.level not in LEVELS:
            raise ValueError(f"unknown level {self.level!r}; choose from {EXACT!r}, {ROUNDING!r}, {SEARCH!r}")
        if self.level != EXACT and not (self.reason and self.evidence):
            raise ValueError(f"level {self.level!r} needs a reason and evidence: exact is the default promise")


LEVELS = (EXACT, ROUNDING, SEARCH)  # each promises less than the one before


def weaker(*levels: str) -> str:
    """The level that promises least among ``levels``."""
    return max(levels, key=LEVELS.index)


# One code moved by one step changes its element by about twice the rounding error, so moving a fraction f of
# the codes puts the dequantized weights about sqrt(12 f) of the quantization error apart: 0.35 is f = 1%.
# Measured: bitsandbytes 4-bit 0.30 (float16, 128x256), torchao int8 0.16 (float32, 128x128); every code one
# step off (the planted bug) gives more than 1.
ROUNDING_SHARE = 0.35
SEARCH_SHARE = 0.05  # measured: hqq 0.0003 relative (0.08720 against 0.08723, 1024x1024)
FLOOR_SHARE = 0.01  # errors under 1% of the method's bound are equally good (exactly representable weights)


@dataclass(frozen=True)
class Tolerances:
    """Numerical bounds a method promises (relative to full precision) and its twin's agreement."""

    rel_error: float | Callable[[Any], float] = 0.2  # relative Frobenius error; callable of the config
    max_block_error: float | None = None
    twin_atol: float = 0.0  # 0: the twin must match the real backend bit for bit
    logits_drift: float | None = None
    # relative gap between the quantized Linear's forward and a matmul with its dequantized weight
    # (activation quantization, low-precision compute); None: the compute dtype's rounding only
    forward_rel_error: float | None = None
    memory_rel: float = 0.15  # estimate from param_element_size vs measured bytes of a loaded model
    across_devices: AcrossDevices = field(default_factory=AcrossDevices)


@dataclass(frozen=True)
class KnownDeviation:
    """A declared departure from the contract, applied as ``xfail(strict=True)``.

    ``check`` is a check function's name; ``params`` is a substring of the test id's parameter part
    (for example ``"cuda"``) when the deviation holds only for some variants; ``when`` is a
    (distribution, version specifier) pair, e.g. ``("transformers", "<5.23")``, when it holds only for
    some installed versions. ``strict=False`` is for a deviation that shows only for some drawn inputs
    (a dtype and magnitude among many): a run that does not draw them passes instead of failing.
    ``unless_installed`` names a distribution whose absence causes the deviation (it holds only without it).
    """

    check: str
    reason: str
    evidence: str
    params: str | None = None
    raises: tuple[type[BaseException], ...] | None = None
    when: tuple[str, str] | None = None
    strict: bool = True
    unless_installed: str | None = None  # a distribution whose presence lifts the deviation

    def applies_to(self, check: str, param_id: str) -> bool:
        return check == self.check and (self.params is None or self.params in param_id) and self.holds_here()

    def holds_here(self) -> bool:
        if self.unless_installed is not None:
            try:
                importlib.metadata.version(self.unless_installed)
                return False
            except importlib.metadata.PackageNotFoundError:
                pass
        if self.when is None:
            return True
        from packaging.specifiers import SpecifierSet

        distribution, specifier = self.when
        try:
            installed = importlib.metadata.version(distribution)
        except importlib.metadata.PackageNotFoundError:
            return False
        return SpecifierSet(specifier).contains(installed, prereleases=True)


# checks that load a tiny model through from_pretrained: a method that cannot load one fails each
MODEL_LOADING_CHECKS = (
    "test_skip_list_respected",
    "test_output_embedding_stays_full_precision",
    "test_keep_in_fp32_modules_stay_full_precision",
    "test_postprocess_marks_model",
    "test_forward_runs_deterministically",
    "test_is_serializable_agrees_with_spec",
    "test_save_reload_bit_identical",
    "test_save_refused_when_not_serializable",
    "test_dequantize_matches_quantized",
    "test_backward_gives_finite_gradients",
    "test_model_weights_error_within_bound",
    "test_linear_forward_matches_dequantized_matmul",
    "test_logits_drift_vs_full_precision",
    "test_split_over_two_gpus_matches_one",
    "test_saved_config_keeps_every_argument",
    "test_hostile_rows_give_finite_outputs",
    "test_zero_rows_stay_zero",
    "test_error_within_bound_per_row",
)


def cannot_load(
    reason: str,
    evidence: str,
    raises: tuple[type[BaseException], ...],
    params: str | None = None,
    when: tuple[str, str] | None = None,
) -> tuple[KnownDeviation, ...]:
    """One deviation per model-loading check, for a method whose models do not load at all (the error
    type is pinned by ``raises``, so another failure of those checks still shows)."""
    return tuple(KnownDeviation(c, reason, evidence, params, raises, when) for c in MODEL_LOADING_CHECKS)


@dataclass(frozen=True)
class InvalidConfig:
    """Config arguments that the config class must refuse, and the field its error must name."""

    kwargs: dict[str, Any]
    field: str


@dataclass(frozen=True)
class OffloadRule:
    """Explicit device maps that ``validate_environment`` must refuse with ValueError.

    A map is refused when it places a module on one of ``places`` and, if ``beside_accelerator``,
    also places one on an accelerator; setting the config flag ``unless`` to True lifts the refusal.
    """

    places: tuple[str, ...] = ("cpu", "disk")
    beside_accelerator: bool = True
    unless: str | None = None


def _no_strategy() -> None:
    return None


@dataclass(frozen=True)
class Inputs:
    """What the checks feed the method: configs, checkpoints, devices and dtypes.

    ``default_config`` builds one valid config (None: the config class's own defaults); ``configs`` returns a
    hypothesis strategy of valid configs (None: inferred from the config class); ``invalid_configs`` one of
    ``InvalidConfig``.
    """

    default_config: Callable[[], Any] | None = None
    configs: Callable[[], SearchStrategy[Any] | None] = _no_strategy
    invalid_configs: Callable[[], SearchStrategy[InvalidConfig] | None] = _no_strategy
    skip_field: str | None = "modules_to_not_convert"  # the config field holding the skip list; None: no list
    # "module:function" (method_key, arch, config) -> Path of a pre-quantized tiny checkpoint, for methods
    # that do not quantize on the fly (or not on every device)
    checkpoint_writer: str | None = None
    # (dataset field, tokenizer field) of a config with which from_pretrained calibrates a full-precision model on
    # texts and quantizes it while loading (GPTQConfig's "dataset", "tokenizer"); the reference twin's config takes
    # the same texts' token ids in its dataset field. None: unset, probed (a config taking "dataset" and "tokenizer"
    # for a quantizer that does not require calibration, ``discovery.probe.calibration_path``); (): no such path
    # (checks/test_calibration.py)
    calibration_fields: tuple[str, str] | tuple[()] | None = None
    # loading attributes (``get_loading_attributes``) passed with a pre-quantized checkpoint, by device kind:
    # for backends whose default kernel cannot run where qconform runs (the reason belongs in ``notes``)
    loading_overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    devices: tuple[str, ...] = ("cpu", "cuda")
    # the tiny architectures (``qconform.inputs.tiny_models.ARCHITECTURES``) that model checks build: one that
    # converts only some module kinds (MXFP4: gpt-oss experts) or whose format knows only some (GGUF) names them
    architectures: tuple[str, ...] = ("llama", "opt")
    dtypes: tuple[str, ...] = ("float16", "bfloat16", "float32")  # what update_dtype may hand back


@dataclass(frozen=True)
class Promises:
    """What the method promises: capabilities (unset: probed), sizes, validation rules, numerical bounds."""

    capabilities: Capabilities = field(default_factory=Capabilities)
    requires_calibration: bool | None = None  # None: the quantizer class's own ``requires_calibration``
    quantized_element_size: float | Callable[[Any], float | None] | None = None  # bytes; callable of the config
    loading_attributes: tuple[str, ...] = ()  # config fields a checkpoint's loading may override
    offload_rule: OffloadRule | None = None
    prequantized_fallback: str | None = None  # "dequantize": a checkpoint loads dequantized without the accelerator
    tolerances: Tolerances = field(default_factory=Tolerances)


@dataclass(frozen=True)
class Oracles:
    """What the method is compared with: its reference twin, and a ``WeightCodec`` for one weight at a time."""

    reference_twin: str | None = None
    mirrors: str | None = None  # for a twin: the dispatch key of the real method it reproduces
    codec: str | None = None  # "module:attribute" of a ``qconform.WeightCodec`` (or a factory of one)


GROUPS = {"inputs": Inputs, "promises": Promises, "oracles": Oracles}
FIELD_GROUP = {f.name: group for group, cls in GROUPS.items() for f in dataclasses.fields(cls)}


@dataclass(frozen=True)
class QuantizerSpec:
    """Everything qconform knows about one dispatch key, as data, grouped by role: ``inputs`` (what the checks
    feed it), ``promises`` (what it guarantees), ``oracles`` (what it is compared with) and
    ``known_deviations`` (where it departs from the contract, with reasons). Every field has a default: a spec
    states only what differs from what qconform finds out by itself.
    """

    method: str
    requirements: tuple[Requirement, ...] = ()
    inputs: Inputs = field(default_factory=Inputs)
    promises: Promises = field(default_factory=Promises)
    oracles: Oracles = field(default_factory=Oracles)
    known_deviations: tuple[KnownDeviation, ...] = ()
    notes: str = ""
    # capabilities the author left unset, filled by discovery from the quantizer (never written by hand): where a
    # trial shows otherwise (a load refused), the checks skip with the refusal instead of failing
    found_out: tuple[str, ...] = ()

    def loads_dequantized(self, device: str) -> bool:
        """Whether checkpoints load with ``dequantize=True`` on this device (a loading override for its kind):
        transformers' fallback reads the format and hands back a plain model."""
        return self.inputs.loading_overrides.get(str(device).split(":")[0], {}).get("dequantize") is True

    def missing_requirements(self) -> list[str]:
        """Reasons for each unmet requirement, empty when the method can run here."""
        return [reason for req in self.requirements if (reason := req.missing_reason()) is not None]

    def element_size(self, config: Any) -> float | None:
        """Bytes per quantized element for this config, or None where the spec does not say."""
        size = self.promises.quantized_element_size
        return size(config) if callable(size) else size

    def deviations_for(self, check: str, param_id: str) -> list[KnownDeviation]:
        return [d for d in self.known_deviations if d.applies_to(check, param_id)]

    def replace(self, **changes: Any) -> QuantizerSpec:
        """A copy with ``changes``: top-level fields, whole groups, or any field of a group by its own name."""
        grouped: dict[str, dict[str, Any]] = {}
        top: dict[str, Any] = {}
        for name, value in changes.items():
            if name in FIELD_GROUP:
                grouped.setdefault(FIELD_GROUP[name], {})[name] = value
            else:
                top[name] = value
        for group, fields in grouped.items():
            top[group] = dataclasses.replace(top.get(group, getattr(self, group)), **fields)
        return dataclasses.replace(self, **top)


def minimal_spec(method: str, config_class: type | None = None) -> QuantizerSpec:
    """The spec of a method nobody described: every capability is found out, configs come from the class."""
    return QuantizerSpec(
        method=method,
        inputs=Inputs(default_config=config_class),
        notes="no spec declared: capabilities are probed from the quantizer, configs inferred from the config class",
    )


def load_object(reference: str) -> Any:
    """Import ``module`` or ``module:attribute`` (a dotted attribute path is followed)."""
    module_name, _, attribute = reference.partition(":")
    obj = importlib.import_module(module_name)
    for part in attribute.split(".") if attribute else ():
        obj = getattr(obj, part)
    return obj
