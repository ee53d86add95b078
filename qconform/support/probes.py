"""The dispatch run up to validation, here or in a process that hides a package or the accelerator.

A probe does what ``from_pretrained`` does before it touches a weight: get the config (built as a
user would build it, or read from a checkpoint's config.json) and call ``get_hf_quantizer``, which
merges, dispatches, constructs the quantizer, validates the environment and updates the device map.
Its outcome is plain data, so probes run in a subprocess (``qconform.support.environment.run_hidden``) answer
exactly as probes run here. Subprocess answers are cached for the run and shared by xdist workers,
so each hidden package costs one interpreter per run, whatever the number of targets needing it.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import tempfile
import traceback
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qconform.support.environment import accelerator_present, run_hidden

PATHS = ("argument", "checkpoint")  # quantization_config passed to from_pretrained / found in config.json


def _raised(stage: str, exc: BaseException) -> dict[str, Any]:
    frames = traceback.extract_tb(exc.__traceback__)
    in_transformers = any(f"{os.sep}transformers{os.sep}" in f.filename for f in frames)
    return {
        "raised": True,
        "stage": stage,
        "type": type(exc).__name__,
        "bases": [c.__name__ for c in type(exc).__mro__],
        "message": str(exc),
        # the caller's own import failed (e.g. a spec's `from torchao.quantization import ...`)
        "own_import": isinstance(exc, ImportError) and not in_transformers,
        "where": f"{frames[-1].filename}:{frames[-1].lineno}" if frames else "",
    }


def probe(
    spec: Any,
    paths: Sequence[str],
    config_dict: dict[str, Any] | None = None,
    device_map: Any = None,
) -> dict[str, Any]:
    """Try ``paths`` in order until one applies; return what ``get_hf_quantizer`` did on it.

    ``argument`` builds the spec's default config here and passes it to ``get_hf_quantizer``;
    ``checkpoint`` puts ``config_dict`` (or the default config's ``to_dict()``) in the model config.
    A path whose config cannot be built because the caller's own import fails does not apply.
    """
    from transformers.quantizers.auto import get_hf_quantizer

    from qconform.inputs.tiny_models import tiny_config

    skipped: list[str] = []
    for path in paths:
        model_config = tiny_config()
        argument = None
        if path == "checkpoint" and config_dict is not None:
            model_config.quantization_config = copy.deepcopy(config_dict)
        else:
            try:
                config = spec.inputs.default_config()
            except Exception as exc:
                outcome = _raised("config", exc)
                if outcome["own_import"]:  # the caller's own import: this way of getting a config does not apply
                    skipped.append(f"{path}: {outcome['type']}: {outcome['message']}")
                    continue
                return {**outcome, "path": path, "skipped": skipped}
            if path == "argument":
                argument = config
            else:
                model_config.quantization_config = config.to_dict()
        try:
            quantizer, model_config, returned = get_hf_quantizer(model_config, argument, device_map, True, {})
        except Exception as exc:
            return {**_raised("dispatch", exc), "path": path, "skipped": skipped}
        qconfig = quantizer.quantization_config
        return {
            "raised": False,
            "path": path,
            "skipped": skipped,
            "quantizer": type(quantizer).__name__,
            "pre_quantized": bool(quantizer.pre_quantized),
            "dequantize": bool(getattr(qconfig, "dequantize", False)),
            "device_map": repr(returned),
        }
    return {"raised": False, "path": None, "skipped": skipped, "not_applicable": True}


def probe_targets(request: dict[str, Any]) -> dict[str, Any]:
    """Child entry point: ``{"plugins": [...], "probes": [{"id", "key", "paths", "config_dict"}]}`` -> {id: outcome}."""
    from qconform.discovery.targets import discover

    keys = {item["key"] for item in request["probes"]}
    found = discover(request.get("plugins", ()), lambda key, origin: key in keys)
    answers = {}
    for item in request["probes"]:
        ident = item.get("id", item["key"])
        target = found.targets.get(item["key"])
        if target is None:
            answers[ident] = {"raised": False, "path": None, "missing_target": True}
            continue
        try:
            answers[ident] = probe(target.spec, item["paths"], item.get("config_dict"))
        except BaseException as exc:  # a probe that breaks is an answer, not the end of the batch
            answers[ident] = {**_raised("probe", exc), "path": None, "broken": traceback.format_exc()}
    return answers


def probe_here(spec: Any, paths: Sequence[str], config_dict: dict[str, Any] | None = None) -> dict[str, Any]:
    """``probe`` in this process, with the same guard as in a child."""
    try:
        return probe(spec, paths, config_dict)
    except Exception as exc:
        return {**_raised("probe", exc), "path": None, "broken": traceback.format_exc()}


def _run_dir() -> Path | None:
    """A directory shared by the xdist workers of this run (None without xdist)."""
    uid = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    if not uid:
        return None
    path = Path(tempfile.gettempdir()) / f"qconform-probes-{uid}"
    path.mkdir(exist_ok=True)
    return path


_MEMO: dict[str, dict[str, Any]] = {}
_PENDING: dict[str, Future] = {}  # started ahead by ``prefetch``


@dataclass(frozen=True)
class HiddenCall:
    """One ``probe_targets`` request for a child that hides ``modules``/``distributions`` (and the accelerator)."""

    request: dict[str, Any]
    modules: tuple[str, ...] = ()
    distributions: tuple[str, ...] = ()
    hide_accelerator: bool = False

    @property
    def digest(self) -> str:
        blob = json.dumps(
            [self.request, sorted(self.modules), sorted(self.distributions), self.hide_accelerator], sort_keys=True
        )
        return hashlib.sha256(blob.encode()).hexdigest()[:20]

    def answer(self) -> dict[str, Any]:
        return hidden_probes(self.request, self.modules, self.distributions, self.hide_accelerator)


def saved_config(target: Any) -> dict[str, Any] | None:
    """The target's default config as config.json holds it, or None where it cannot be built here."""
    from qconform.support.compare import json_round_trip

    try:
        return json_round_trip(target.spec.inputs.default_config().to_dict())
    except Exception:
        return None


def probe_item(target: Any, paths: list[str], ident: str | None = None) -> dict[str, Any]:
    item = {"key": target.key, "paths": paths, "config_dict": saved_config(target)}
    if ident:
        item["id"] = ident
    return item


def missing_package_call(
    hidden: Any, targets: Sequence[Any], plugins: Sequence[str], hide_accelerator: bool
) -> HiddenCall | None:
    """The child that shows every selected target needing ``hidden`` (a Requirement; None: no package hidden)
    what validation does without it; None where that needs no child (nothing hidden, no accelerator to hide)."""
    from qconform.support.contract import paths_for

    modules = (hidden.import_name,) if hidden else ()
    if not needs_subprocess(modules, hide_accelerator):
        return None
    needs = [
        t for t in targets if hidden is None or any(r.import_name == hidden.import_name for r in t.spec.requirements)
    ]
    items = [probe_item(t, paths_for(t.spec)) for t in sorted(needs, key=lambda t: t.key)]
    return HiddenCall(
        {"plugins": list(plugins), "probes": items},
        modules,
        (hidden.distribution,) if hidden else (),
        hide_accelerator,
    )


def missing_package_calls(target: Any, device: str, targets: Sequence[Any], plugins: Sequence[str]) -> list[HiddenCall]:
    """The children ``test_missing_package_is_named[target-device]`` will ask: one per installed requirement."""
    calls = []
    for req in target.spec.requirements:
        hidden = req if req.missing_reason() is None else None
        call = missing_package_call(hidden, targets, plugins, hide_accelerator=device == "cpu")
        if call is not None:
            calls.append(call)
    return calls


def prefetch(calls: Sequence[HiddenCall]) -> int:
    """Start ``calls`` one after another in a background thread (it only waits on children); returns how many.

    For a run without xdist, whose checks use one core: the children run on the other while checks run."""
    todo = {c.digest: c for c in calls if c.digest not in _MEMO and c.digest not in _PENDING}
    if not todo:
        return 0
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="qconform-prefetch")
    for digest, call in todo.items():
        _PENDING[digest] = pool.submit(_compute, call)
    pool.shutdown(wait=False)
    return len(todo)


def cancel_prefetch() -> None:
    """Drop what has not started (the run ends early: -x, an interrupt); a running child is left to finish."""
    for digest in list(_PENDING):
        if _PENDING[digest].cancel():
            del _PENDING[digest]


def _compute(call: HiddenCall) -> dict[str, Any]:
    return run_hidden(
        "qconform.support.probes:probe_targets",
        call.request,
        modules=call.modules,
        distributions=call.distributions,
        hide_accelerator=call.hide_accelerator,
    )


def hidden_probes(
    request: dict[str, Any], modules: Sequence[str], distributions: Sequence[str], hide_accelerator: bool
) -> dict[str, Any]:
    """``probe_targets(request)`` in a child hiding ``modules``/``distributions`` (and the accelerator).

    Answers are memoised for the process and, under xdist, in a file shared by the run's workers.
    """
    call = HiddenCall(request, tuple(modules), tuple(distributions), hide_accelerator)
    digest = call.digest
    if digest in _MEMO:
        return _MEMO[digest]
    if digest in _PENDING:
        _MEMO[digest] = _PENDING.pop(digest).result()
        return _MEMO[digest]

    def compute() -> dict[str, Any]:
        return _compute(call)

    shared = _run_dir()
    if shared is None:
        answer = compute()
    else:
        from filelock import FileLock

        file = shared / f"{digest}.json"
        with FileLock(str(file) + ".lock"):
            if file.exists():
                answer = json.loads(file.read_text())
            else:
                answer = compute()
                file.write_text(json.dumps(answer))
    _MEMO[digest] = answer
    return answer


def needs_subprocess(hidden_modules: Sequence[str], hide_accelerator: bool) -> bool:
    return bool(hidden_modules) or (hide_accelerator and accelerator_present())
