"""Getting configs for a target: drawn from the spec's strategy, or its default."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import strategies as st

from qconform.specs.model import QuantizerSpec


def build(factory: Any, spec: QuantizerSpec) -> Any:
    """Call a config factory; a missing backend is a skip with its reason, anything else an error."""
    try:
        return factory()
    except ImportError as exc:
        missing = spec.missing_requirements()
        pytest.skip(f"config needs a missing package: {exc}" + (f" ({'; '.join(missing)})" if missing else ""))


def config_strategy(spec: QuantizerSpec) -> st.SearchStrategy[Any]:
    """The spec's valid configs, or its default config alone."""
    strategy = spec.inputs.configs()
    if strategy is not None:
        return strategy
    return st.builds(lambda: build(spec.inputs.default_config, spec))


def draw_config(data: st.DataObject, spec: QuantizerSpec, label: str = "config") -> Any:
    return data.draw(config_strategy(spec), label=label)


def round_trip(config: Any) -> Any:
    """to_dict -> JSON text -> AutoQuantizationConfig.from_dict, as transformers reads config.json."""
    import json

    from transformers.quantizers.auto import AutoQuantizationConfig

    text = json.dumps(config.to_dict(), allow_nan=False)
    return AutoQuantizationConfig.from_dict(copy.deepcopy(json.loads(text)))
