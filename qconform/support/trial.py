"""Finding out by trying: whether a quantizer nobody described accepts a tiny model on a device.

Where a spec leaves ``quantizes_on_the_fly`` or ``needs_accelerator`` unset, qconform cannot know from the class
whether loading will be refused here. Before a check loads a tiny model, ``validate`` runs the dispatch up to
validation (``get_hf_quantizer``: merge, construct, ``validate_environment``, device map), as ``from_pretrained``
does before touching a weight. A refusal there becomes a skip in the outcome vocabulary, quoting it; anything
raised after validation passed stays a failure. Where the author stated both capabilities, nothing is tried:
the spec promised the load works, so a refusal fails the check as before.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest

from qconform.specs.model import QuantizerSpec

NOT_INSTALLED, NEEDS_NETWORK, NOT_SUPPORTED = (
    "not installed here",
    "needs the network",
    "not supported on this hardware",
)
TRIED = ("quantizes_on_the_fly", "needs_accelerator")  # what only a load shows

_NETWORK_TYPES = ("OfflineModeIsEnabled", "LocalEntryNotFoundError", "ConnectionError", "ConnectTimeout", "URLError")
_NETWORK_WORDS = re.compile(
    r"offline mode|hf_hub_offline|internet connection|couldn't connect|could not connect|connection (error|refused)"
    r"|name resolution|network is unreachable|max retries exceeded"
    # kernels (>= 0.19) asks the hub whether a kernel repository's publisher is trusted before fetching it
    r"|could not verify publisher trust",
    re.I,
)
_INSTALL_WORDS = re.compile(r"pip install|is not installed|please install|requires? (the )?\S+ (library|package)", re.I)


def needs_trial(spec: QuantizerSpec) -> bool:
    """Whether the spec left what only a load shows to be found out (a bare quantizer leaves both)."""
    return any(name in spec.found_out for name in TRIED)


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    while exc is not None and exc not in seen:
        seen.append(exc)
        exc = exc.__cause__ or exc.__context__
    return seen


def _quote(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:400]}"


def classify(exc: BaseException, spec: QuantizerSpec) -> str:
    """The skip reason for a refusal at validation: not installed here (with the install hint), needs the
    network, or not supported on this hardware (the quantizer's own words)."""
    chain = _chain(exc)
    if any(type(e).__name__ in _NETWORK_TYPES or _NETWORK_WORDS.search(str(e)) for e in chain):
        return f"{NEEDS_NETWORK} (qconform runs offline): {_quote(exc)}"
    if any(isinstance(e, ImportError) or _INSTALL_WORDS.search(str(e)) for e in chain):
        missing = spec.missing_requirements()
        hint = "; ".join(missing) if missing else "install the package the error names"
        return f"{NOT_INSTALLED}: {_quote(exc)} ({hint})"
    return f"{NOT_SUPPORTED} (the quantizer refused at validation): {_quote(exc)}"


def validate(spec: QuantizerSpec, argument: Any, device: str, path: Path) -> None:
    """Run the dispatch up to validation for a load of ``path`` with ``argument`` (the ``quantization_config``
    passed to ``from_pretrained``, or None); skip, classified and quoted, where it refuses. Does nothing where
    the spec states what only a trial shows."""
    if not needs_trial(spec):
        return
    from transformers import AutoConfig
    from transformers.quantizers.auto import get_hf_quantizer

    from qconform.support.quiet import quiet

    model_config = AutoConfig.from_pretrained(path)
    try:
        with quiet():
            get_hf_quantizer(model_config, copy.deepcopy(argument), {"": device}, True, {})
    except Exception as exc:
        pytest.skip(f"tried on {device}: {classify(exc, spec)}")
