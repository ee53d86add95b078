"""What a failure record carries: hypothesis' smallest example and a command that reproduces it."""

from __future__ import annotations

import shlex
from collections.abc import Iterable

_HYPOTHESIS_NOTE_PREFIXES = (
    "Falsifying example",
    "Falsifying explicit example",
    "Failing test case",
    "Draw ",
    "You can reproduce",
)


def _walk(exc: BaseException) -> Iterable[BaseException]:
    yield exc
    for child in getattr(exc, "exceptions", ()):  # ExceptionGroup from several distinct failures
        yield from _walk(child)


def counterexample(exc: BaseException) -> str | None:
    """The notes hypothesis attached to the failure (shrunk example, draws, reproduce blob)."""
    notes = []
    for each in _walk(exc):
        notes.extend(str(n) for n in getattr(each, "__notes__", ()) if str(n).startswith(_HYPOTHESIS_NOTE_PREFIXES))
    return "\n".join(dict.fromkeys(notes)) or None


def reproduce_command(
    target: str,
    test_name: str,
    profile: str | None,
    device: str | None = None,
    plugins: Iterable[str] = (),
) -> str:
    """A pytest command line that runs exactly this check on this target again."""
    parts = ["pytest", f"--quantizer={target}", "-k", test_name, "-p", "no:randomly"]
    if profile:
        parts.append(f"--qconform-profile={profile}")
    if device:
        parts.append(f"--qconform-device={device.split(':')[0]}")
    parts.extend(f"--qconform-plugin={p}" for p in plugins)
    return shlex.join(parts)
