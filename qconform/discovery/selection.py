"""Turn ``--quantizer`` values into targets, or a usage error that says what exists."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Mapping
from types import SimpleNamespace

from qconform.discovery.targets import Target

GROUPS = {
    "all": lambda t: True,
    "reference": lambda t: t.origin == "reference",
    "transformers": lambda t: t.origin == "transformers",
    "plugin": lambda t: t.origin == "plugin",
}


def builtin_dispatch_keys() -> frozenset[str]:
    """transformers' own dispatch keys, read from the source of ``transformers.quantizers.auto`` without importing
    it (which costs seconds); empty where that source is not a dict literal of string keys."""
    import ast
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("transformers")
    if spec is None or not spec.submodule_search_locations:
        return frozenset()
    source = Path(next(iter(spec.submodule_search_locations))) / "quantizers" / "auto.py"
    try:
        tree = ast.parse(source.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError):
        return frozenset()
    for node in tree.body:
        named = isinstance(node, ast.Assign) and any(
            getattr(t, "id", None) == "AUTO_QUANTIZER_MAPPING" for t in node.targets
        )
        if named and isinstance(node.value, ast.Dict):
            keys = node.value.keys
            return frozenset(k.value for k in keys if isinstance(k, ast.Constant) and isinstance(k.value, str))
    return frozenset()


class SelectionError(ValueError):
    """A ``--quantizer`` value that names nothing."""


def split_values(values: Iterable[str]) -> list[str]:
    """Repeated options and comma lists, stripped, in order, without duplicates."""
    names: list[str] = []
    for value in values:
        for part in value.split(","):
            part = part.strip()
            if part and part not in names:
                names.append(part)
    return names


def selected_by(values: Iterable[str]) -> Callable[[str, str], bool]:
    """Whether ``--quantizer`` values choose the target of (key, origin): what discovery must probe. An unknown
    name chooses nothing here; ``select`` reports it once the targets are known."""
    names = split_values(values)
    groups = [GROUPS[n] for n in names if n in GROUPS]

    def chosen(key: str, origin: str) -> bool:
        return key in names or any(group(SimpleNamespace(key=key, origin=origin)) for group in groups)

    return chosen


def select(values: Iterable[str], targets: Mapping[str, Target]) -> list[Target]:
    names = split_values(values)
    if not names:
        raise SelectionError("--quantizer was given without a method name")
    chosen: dict[str, Target] = {}
    unknown = []
    for name in names:
        if name in GROUPS:
            chosen.update((k, t) for k, t in targets.items() if GROUPS[name](t))
        elif name in targets:
            chosen[name] = targets[name]
        else:
            unknown.append(name)
    if unknown:
        raise SelectionError(unknown_message(unknown, targets))
    return [chosen[k] for k in sorted(chosen)]


def unknown_message(unknown: list[str], targets: Mapping[str, Target]) -> str:
    vocabulary = sorted(targets) + sorted(GROUPS)
    lines = []
    for name in unknown:
        close = difflib.get_close_matches(name, vocabulary, n=3, cutoff=0.5)
        hint = f" (did you mean: {', '.join(close)}?)" if close else ""
        lines.append(f"unknown quantizer {name!r}{hint}")
    lines.append("known quantizers: " + ", ".join(sorted(targets)))
    lines.append("groups: " + ", ".join(sorted(GROUPS)))
    return "\n".join(lines)
