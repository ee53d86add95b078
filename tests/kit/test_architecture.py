"""One dependency direction and no cycles: reference_quantizers builds on qconform, never the other way,
and neither package has an import cycle (function-level imports count; TYPE_CHECKING blocks do not)."""

from __future__ import annotations

from pathlib import Path

from tests.kit.import_graph import crossings, cycles, import_graph

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("qconform", "reference_quantizers")


def test_qconform_never_imports_reference_quantizers():
    graph = import_graph(ROOT, PACKAGES)
    assert crossings(graph, "qconform", "reference_quantizers") == []


def test_no_import_cycles():
    assert cycles(import_graph(ROOT, PACKAGES)) == []


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_planted_cycle_and_crossing_are_found(tmp_path):
    """The two checks above on a tree with a function-level cycle and a lazy forbidden import."""
    _write(
        tmp_path,
        {
            "kit/__init__.py": "",
            "kit/a.py": "from kit import b\n",
            "kit/b.py": "def f():\n    from kit.a import x\n",
            "kit/c.py": "def g():\n    import twins.base\n",
            "kit/d.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from kit.c import g\n",
            "twins/__init__.py": "",
            "twins/base.py": "from kit.d import TYPE_CHECKING\n",
        },
    )
    graph = import_graph(tmp_path, ("kit", "twins"))
    assert cycles(graph) == [["kit.a", "kit.b"]]
    assert crossings(graph, "kit", "twins") == ["kit.c -> twins.base"]
    assert "kit.c" not in graph["kit.d"]  # TYPE_CHECKING imports never run


def test_relative_imports_resolve(tmp_path):
    _write(tmp_path, {"p/__init__.py": "from . import q\n", "p/q.py": "from .r import x\n", "p/r.py": ""})
    graph = import_graph(tmp_path, ("p",))
    assert graph == {"p": {"p.q"}, "p.q": {"p.r"}, "p.r": set()}
