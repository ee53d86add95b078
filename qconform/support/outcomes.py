"""One vocabulary for why a check did not run, used by every skip and every report.

A check either ran (passed, failed, or a declared known deviation) or did not, for one of four reasons,
never conflated: the backend is **not installed here** (with its install hint), the hardware **refused**
(the quantizer's or backend's own words, quoted), the method **needs the network** (code fetched from a
hub at run time), or the check is **not applicable** (a capability the method lacks, a device it does not
declare). A skip reason starts with its kind (``not installed here: ...``); ``kind_of`` reads it back.
"""

from __future__ import annotations

from typing import NoReturn

NOT_INSTALLED = "not installed here"
NOT_SUPPORTED = "not supported on this hardware"
NEEDS_NETWORK = "needs the network"
NOT_APPLICABLE = "not applicable"
KINDS = (NOT_INSTALLED, NEEDS_NETWORK, NOT_SUPPORTED, NOT_APPLICABLE)  # a cell shows the first that applies

# reasons written before the vocabulary, or by pytest itself, read by their words
_LEGACY = (
    (NEEDS_NETWORK, ("from the hub", "kernels-community", "needs the network", "hf_hub", "no network")),
    (
        NOT_INSTALLED,
        (
            "is not installed",
            "backend missing",
            "cannot be imported",
            "no module named",
            "missing package",
            "please install",
        ),
    ),
    (
        NOT_SUPPORTED,
        ("no cuda device", "no accelerator", "needs an accelerator", "only supported on gpu", "needs two cuda devices"),
    ),
)


def reason(kind: str, detail: str) -> str:
    """A skip reason of ``kind``: ``"<kind>: <detail>"``."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; choose from {KINDS}")
    return f"{kind}: {detail}"


def skip(kind: str, detail: str) -> NoReturn:
    import pytest

    pytest.skip(reason(kind, detail))


def kind_of(text: str | None) -> str:
    """The kind a skip reason names; a reason in other words is read by them, else it is not applicable."""
    text = (text or "").strip()
    for kind in KINDS:
        if text.startswith(kind + ":"):
            return kind
    lowered = text.lower()
    for kind, words in _LEGACY:
        if any(word in lowered for word in words):
            return kind
    return NOT_APPLICABLE
