"""The findings catalogue (reports/findings): each standalone reproduction still exits as catalogued.

Each script reproduces one upstream deviation with transformers and its backend alone, and exits 1 while it
holds, 0 once fixed, 2 when its backend is unusable here. Running them here turns an upstream fix into a
failure that says which catalogue entry to update, and keeps the scripts free of qconform's own code, so a
maintainer can run them as they are.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

FINDINGS = Path(__file__).resolve().parents[2] / "reports" / "findings"
CATALOGUE = json.loads((FINDINGS / "catalogue.json").read_text())
SEVERITIES = ("silent wrong results or data loss", "crash", "unclear error")
# what a standalone reproduction may import besides its backend's modules
STANDARD = {"json", "sys", "tempfile", "torch", "transformers", "safetensors"}
FORBIDDEN = {"qconform", "reference_quantizers"}
TIMEOUT_S = 180


def _imported(script: Path) -> set[str]:
    """Top-level names of every module the script imports, wherever the import stands."""
    names = set()
    for node in ast.walk(ast.parse(script.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            names.add((node.module or "").split(".")[0] if node.level == 0 else ".")
    return names


def _missing(modules: list[str]) -> list[str]:
    """The modules among ``modules`` that cannot be found here (checked without importing them)."""
    missing = []
    for name in modules:
        try:
            found = importlib.util.find_spec(name) is not None
        except ModuleNotFoundError:
            found = False
        if not found:
            missing.append(name)
    return missing


def test_catalogue_lists_every_script_once():
    listed = [entry["script"] for entry in CATALOGUE]
    assert len(listed) == len(set(listed)), "a script is catalogued twice"
    on_disk = sorted(path.name for path in FINDINGS.glob("*.py"))
    assert sorted(listed) == on_disk, "reports/findings/catalogue.json and the scripts in the folder disagree"
    for entry in CATALOGUE:
        assert entry["severity"] in SEVERITIES, entry
        assert entry["expected_exit"] in (0, 1, 2), entry
        assert entry["affected_releases"] and entry["check"] and entry["package"] and entry["requires"], entry


@pytest.mark.parametrize("entry", CATALOGUE, ids=[Path(e["script"]).stem for e in CATALOGUE])
def test_script_is_standalone_and_headed(entry):
    script = FINDINGS / entry["script"]
    imported = _imported(script)
    assert not imported & FORBIDDEN, f"{script.name} imports {sorted(imported & FORBIDDEN)}"
    backends = {name.split(".")[0] for name in entry["requires"]}
    assert imported <= STANDARD | backends, f"{script.name} imports {sorted(imported - STANDARD - backends)}"
    header = ast.get_docstring(ast.parse(script.read_text())) or ""
    fields = dict(line.split(": ", 1) for line in header.splitlines() if ": " in line and line[:1].isupper())
    for field in ("What breaks", "Found by", "Spec entry", "Severity", "Affected releases", "Expected", "Exit"):
        assert field in fields, f"{script.name}: the header has no '{field}:' line"
    assert fields["Severity"].startswith(entry["severity"]), f"{script.name}: header and catalogue severity differ"
    assert fields["Affected releases"].startswith(entry["affected_releases"]), (
        f"{script.name}: header and catalogue affected releases differ"
    )


@pytest.mark.parametrize("entry", CATALOGUE, ids=[Path(e["script"]).stem for e in CATALOGUE])
def test_script_exits_as_catalogued(entry):
    if missing := _missing(entry["requires"]):
        pytest.skip(f"{entry['script']}: backend not importable here ({', '.join(missing)})")
    result = subprocess.run(
        [sys.executable, str(FINDINGS / entry["script"])],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        cwd=FINDINGS,
    )
    said = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else result.stderr.strip()[-2000:]
    if result.returncode == 2 and entry["expected_exit"] != 2:
        pytest.skip(f"{entry['script']}: backend unusable here: {said}")
    expected, got = entry["expected_exit"], result.returncode
    assert got == expected, (
        f"{entry['script']} exited {got}, the catalogue expects {expected} "
        + (
            "(the deviation no longer holds: fixed upstream? update affected_releases and expected_exit in "
            "reports/findings/catalogue.json and the script's header)"
            if got == 0
            else "(it fails otherwise)"
        )
        + f": {said}"
    )
