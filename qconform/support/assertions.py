"""Assertion helpers for checks: they name what was checked and hide their own frames."""

from __future__ import annotations

from collections.abc import Sequence


class ContractViolation(AssertionError):
    """A quantizer broke a clause of the contract; the message says which and how."""


def fail(clause: str, details: Sequence[str] = (), hint: str | None = None) -> None:
    __tracebackhide__ = True
    lines = [clause, *(f"  - {d}" for d in details[:20])]
    if len(details) > 20:
        lines.append(f"  ... and {len(details) - 20} more")
    if hint:
        lines.append(hint)
    raise ContractViolation("\n".join(lines))


def expect(condition: bool, clause: str, details: Sequence[str] = (), hint: str | None = None) -> None:
    __tracebackhide__ = True
    if not condition:
        fail(clause, details, hint)
