"""One record of a run, written out as a standalone script: header, imports, literal values, template blocks.

What a script may import is fixed here: the standard library, torch, transformers, safetensors and the
method's own packages (its spec's requirements); never qconform or reference_quantizers. A record whose
inputs need more (a config class from the reference twins, a checkpoint qconform writes with a twin) is
refused with the reason (``NotReproducible``).
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass
from typing import Any

from qconform.discovery.targets import Target
from qconform.repro import inputs
from qconform.repro.inputs import NotReproducible
from qconform.repro.literals import Source, import_lines, write
from qconform.repro.templates import COMMON, CONFIGS, HELPERS, INVALID, MAIN, MODEL, TEMPLATES, Template

REPRODUCIBLE_OUTCOMES = ("failed", "xfailed")
CONFIG_COUNT = 4  # the default config and up to three drawn ones (the merge checks try every pair)
SKIP_LIST_COUNT = 3
STDLIB = ("copy", "json", "logging", "sys", "tempfile", "warnings")
AUTO_NAMES = ("AUTO_QUANTIZATION_CONFIG_MAPPING", "AUTO_QUANTIZER_MAPPING", "AutoHfQuantizer", "AutoQuantizationConfig")
WIDTH = 110


@dataclass(frozen=True)
class Script:
    """A generated script and the file name it is written under."""

    name: str
    text: str


def covered_checks() -> list[str]:
    return sorted(TEMPLATES)


class Uncovered(NotReproducible):
    """A check no template covers."""

    def __init__(self, check: str) -> None:
        self.check = check
        super().__init__(f"check {check!r} has no repro template; the checks covered: {', '.join(covered_checks())}")


def template_for(check: str) -> Template:
    try:
        return TEMPLATES[check]
    except KeyError:
        raise Uncovered(check) from None


def file_name(record: dict[str, Any]) -> str:
    parts = [record["target"] or "run", record["check"], *map(str, record["params"].values())]
    if record.get("device"):
        parts.append(record["device"])
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", "-".join(parts)) + ".py"


def script_for(record: dict[str, Any], run: dict[str, Any] | None = None, source: str = "") -> Script:
    """The standalone script of one failed or xfailed ``record`` of ``run`` (the run document, for its
    environment), read from the file ``source``."""
    if record.get("outcome") not in REPRODUCIBLE_OUTCOMES:
        raise NotReproducible(
            f"{record.get('nodeid')} {record.get('outcome')}: only {' and '.join(REPRODUCIBLE_OUTCOMES)} records "
            "(failures, known deviations) are written as scripts"
        )
    template = template_for(record["check"])
    if not record.get("target"):
        raise NotReproducible(f"{record['nodeid']} belongs to no quantizer")
    target = inputs.load_target(record["target"])
    values, value_imports = _values(template, target, record)
    body = "\n".join([COMMON, *(HELPERS[name] for name in template.helpers), template.body, MAIN])
    head = _imports(target, value_imports, body, template.needs == MODEL)
    text = "\n".join([_docstring(record, template, target.spec, run or {}, source), *head, "", values, "", body])
    return Script(file_name(record), _tidy(text))


def _values(template: Template, target: Target, record: dict[str, Any]) -> tuple[str, set[tuple[str, str]]]:
    """The literal values block and the imports its values need."""
    spec = target.spec
    lines = [
        "# what the qconform check used, as literals",
        f"METHOD = {target.key!r}",
        f"CHECK = {record['check']!r}",
        f"CONTRACT = {template.contract!r}",
        f"PARAMS = {record['params']!r}",
    ]
    imports: set[tuple[str, str]] = set()

    def add(name: str, source: Source, comment: str = "") -> None:
        imports.update(source.imports)
        lines.append(f"{name} = {source.text}" + (f"  # {comment}" if comment else ""))

    if template.needs == CONFIGS:
        drawn = inputs.recorded_configs(record)
        count = CONFIG_COUNT + len(drawn)
        sources = inputs.distinct_sources(inputs.config_examples(target, count, drawn), spec, count)
        config_class = _config_class(target, inputs.default_config(target))
        lines.append(f"CONFIG_CLASS = {config_class}")
        lines.append(
            ("# the failing example's configs (as the run drew them), then " if drawn else "# ")
            + "the spec's default config, then configs drawn from the spec's strategy (fixed seed)"
        )
        lines.append("CONFIGS = [")
        for s in sources:
            imports.update(s.imports)
            lines.append(f"    {s.text},")
        lines.append("]")
        add("LOADING_ATTRIBUTES", write(tuple(spec.promises.loading_attributes)), "taken from the argument")
        lines.append(f"FORM = {record['params'].get('form', 'dict')!r}")
    elif template.needs == INVALID:
        lines.append(f"CONFIG_CLASS = {_config_class(target, None)}")
        cases = [(c.kwargs, c.field) for c in inputs.invalid_cases(spec, target.config_class)]
        add("INVALID", write(cases, inputs.allowed_packages(spec)), "(arguments, the field the error must name)")
    elif template.needs == MODEL:
        _model_values(target, record, add, lines, imports)
    return "\n".join(lines), imports


def _model_values(
    target: Target, record: dict[str, Any], add: Any, lines: list[str], imports: set[tuple[str, str]]
) -> None:
    from qconform.support import lifecycle
    from qconform.support.metrics import drift_bound

    spec = target.spec
    if not lifecycle.on_the_fly(spec):
        writer = spec.inputs.checkpoint_writer
        raise NotReproducible(
            f"{target.key} loads pre-quantized checkpoints that qconform writes "
            + (f"with {writer}" if writer else "from a calibration")
            + ": a standalone script cannot write them without qconform and the reference twins"
        )
    arch = record["params"].get("arch", "llama")
    drawn = inputs.recorded_configs(record)
    config = drawn[0] if drawn else inputs.default_config(target)
    model_class_name, model_config = inputs.model_config(arch)
    causal_lm = lifecycle.model_class(arch).__name__
    linears = lifecycle.linear_names(arch)
    lines.append(f"CONFIG_CLASS = {_config_class(target, config)}")
    add("CONFIG", inputs.config_source(config, spec), "as the run drew it" if drawn else "the spec's default config")
    lines.append(f"ARCH = {arch!r}")
    lines.append(f"MODEL_CONFIG_CLASS = {model_class_name}")
    add("MODEL_CONFIG", write(model_config), "qconform's tiny model (differences from the class's defaults)")
    lines.append(f"MODEL_CLASS = {causal_lm}")
    imports.update({("transformers", model_class_name), ("transformers", causal_lm)})
    lines.append("SEED = 0")
    lines.append(f"DEVICE = {record.get('device') or 'cpu'!r}")
    add("LINEARS", write(list(linears)))
    lines.append(f"HEAD = {lifecycle.output_embedding_name(arch)!r}")
    capabilities = spec.promises.capabilities
    check = record["check"]
    if check == "test_forward_runs_deterministically":
        lines.append(f"DETERMINISTIC = {bool(capabilities.deterministic)!r}")
    elif check == "test_is_serializable_agrees_with_spec":
        lines.append(f"DECLARED_SERIALIZABLE = {bool(capabilities.serializable)!r}  # the spec (or the probe)")
    elif check == "test_keep_in_fp32_modules_stay_full_precision":
        keep = lifecycle.KEEP_IN_FP32[arch]
        add("KEEP", write(tuple(keep)), "the model class's _keep_in_fp32_modules")
        add("KEPT", write([n for n in linears if lifecycle.skipped_by(n, keep)]))
    elif check == "test_skip_list_respected":
        if spec.inputs.skip_field is None:
            raise NotReproducible(f"{target.key} declares no skip-list field")
        cases = [
            (skip, sorted(n for n in linears if lifecycle.skipped_by(n, skip)))
            for skip in inputs.skip_lists(arch, SKIP_LIST_COUNT)
        ]
        lines.append(f"SKIP_FIELD = {spec.inputs.skip_field!r}")
        add("SKIP_CASES", write(cases), "(skip list, the Linears it keeps full precision)")
        lines.append(f"DRIFT_BOUND = {drift_bound(spec, config)!r}  # the spec's logits drift bound")
    elif check == "test_dequantize_matches_quantized":
        lines.append(f"FORWARD_REL_ERROR = {spec.promises.tolerances.forward_rel_error!r}")


def _config_class(target: Target, config: Any) -> str:
    cls = type(config) if config is not None else target.config_class
    if cls is None:
        raise NotReproducible(f"{target.key} has no config class")
    package = cls.__module__.split(".")[0]
    if package not in inputs.allowed_packages(target.spec):
        raise NotReproducible(
            f"{target.key}'s config class {cls.__module__}.{cls.__name__} comes from {package}, which a "
            "standalone script may not import (only torch, transformers, safetensors and the backend)"
        )
    return cls.__name__


def _imports(target: Target, value_imports: set[tuple[str, str]], body: str, needs_backend: bool) -> list[str]:
    stdlib = [f"import {name}" for name in STDLIB if f"{name}." in body or name == "sys"]
    guarded = ["import torch", "import transformers"]
    if needs_backend:  # config-level checks need only what the config class itself imports
        guarded += [f"import {module}  # noqa: F401 (the backend)" for module in inputs.backend_modules(target.spec)]
    auto = [name for name in AUTO_NAMES if name in body]
    if auto:
        guarded.append(f"from transformers.quantizers.auto import {', '.join(auto)}")
    config_class = target.config_class
    wanted = set(value_imports)
    if config_class is not None:
        wanted.add((_public(config_class), config_class.__name__))
    if "full_precision_checkpoint" in body:
        wanted.add(("transformers", "AutoModelForCausalLM"))
    guarded += import_lines(wanted)
    return [
        *stdlib,
        "",
        "",
        "def unusable(why: str) -> None:",
        '    print(f"cannot run here: {why}")',
        "    sys.exit(2)",
        "",
        "",
        "try:",
        *(f"    {line}" for line in guarded),
        "except Exception as error:  # a missing or broken package: this environment cannot run the script",
        '    unusable(f"{type(error).__name__}: {error}")',
        "",
        "transformers.logging.set_verbosity_error()",
        "transformers.utils.logging.disable_progress_bar()",
    ]


def _public(cls: type) -> str:
    import transformers

    if cls.__module__.startswith("transformers.") and getattr(transformers, cls.__name__, None) is cls:
        return "transformers"
    return cls.__module__


def _docstring(record: dict[str, Any], template: Template, spec: Any, run: dict[str, Any], source: str) -> str:
    packages = run.get("environment", {}).get("packages", {})
    relevant = ("torch", "transformers", *(r.distribution for r in spec.requirements))
    shown = ", ".join(f"{name} {packages[name]}" for name in relevant if packages.get(name))
    message = (record.get("message") or "").strip().splitlines()
    paragraphs = [
        f"{record['target']}: {record['check']}{_shown_params(record)} ({record['outcome']}).",
        f"Contract: {template.contract}.",
        f"What qconform saw: {' '.join(m.strip() for m in message[:3])}" if message else "",
        f"Declared: {record['reason']}" if record.get("reason") else "",
        f"Record: {record['nodeid']}, device {record.get('device') or '-'}"
        + (f", from {source}" if source else "")
        + (f" (run with {shown})" if shown else ""),
        "Exit: 1 while the deviation holds, 0 once it is fixed, 2 if this environment cannot run it (reason printed).",
        "Generated by `qconform repro`: imports only the standard library, torch, transformers, safetensors and the "
        "method's packages; the model is qconform's tiny model built from its config with a fixed seed, offline.",
    ]
    wrapped = [textwrap.fill(p, WIDTH, break_long_words=False, break_on_hyphens=False) for p in paragraphs if p]
    text = "\n\n".join(wrapped).replace("\\", "\\\\").replace('"""', "'''")
    return f'"""{text}\n"""\n'


def _shown_params(record: dict[str, Any]) -> str:
    params = ", ".join(f"{k}={v}" for k, v in record["params"].items())
    return f" [{params}]" if params else ""


def _tidy(text: str) -> str:
    """Two blank lines at most, one newline at the end."""
    return re.sub(r"\n{4,}", "\n\n\n", text).strip() + "\n"
