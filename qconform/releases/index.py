"""Which releases of a distribution the package index serves, asked through pip (its ordinary client).

pip reads the same configuration (index URL, find-links, certificates) that the environments are
built with, so a release it lists is one the build can get. No answer (offline, no pip) is None, not
an error: the plan then takes versions on trust and a wrong one fails when its environment is built.
"""

from __future__ import annotations

import re
import subprocess
import sys

_AVAILABLE = re.compile(r"^Available versions:\s*(.+)$", re.MULTILINE)


def parse_pip_index(output: str) -> list[str] | None:
    """The versions in the output of ``pip index versions NAME``; None if it lists none."""
    found = _AVAILABLE.search(output)
    if not found:
        return None
    return [v.strip() for v in found.group(1).split(",") if v.strip()]


def served_versions(distribution: str, python: str = sys.executable, timeout: float = 120) -> list[str] | None:
    """Releases of ``distribution`` that the index serves for this interpreter, newest first; None if unknown."""
    try:
        done = subprocess.run(
            [python, "-m", "pip", "index", "versions", distribution],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return parse_pip_index(done.stdout) if done.returncode == 0 else None
