"""Hiding a package is faithful: importlib, importlib.metadata and transformers' own checks all see it missing."""

from __future__ import annotations

import subprocess
import sys

import pytest

from qconform.support.environment import run_hidden, without_accelerator_env
from qconform.support.hiding import hide_packages, normalise_distribution


def report_hidden(request: dict) -> dict:
    """Runs in the child: what the import machinery says about each name in ``request["names"]``."""
    import importlib.metadata
    import importlib.util

    answers = {}
    for name, distribution in request["names"]:
        try:
            __import__(name)
            imported = "imported"
        except ModuleNotFoundError as exc:
            imported = f"ModuleNotFoundError: {exc.name}"
        try:
            version = importlib.metadata.version(distribution)
        except importlib.metadata.PackageNotFoundError:
            version = None
        try:
            found = importlib.util.find_spec(name) is not None
        except ModuleNotFoundError:  # a submodule of a missing package: importlib raises, as without hiding
            found = False
        answers[name] = {"spec": found, "import": imported, "version": version}
    from transformers.utils import import_utils

    answers["transformers"] = {
        "accelerate": import_utils.is_accelerate_available(),
        "optimum": import_utils.is_optimum_available(),
    }
    return answers


def test_hidden_package_is_missing_everywhere_and_others_are_not():
    answer = run_hidden(
        f"{__name__}:report_hidden",
        {"names": [["accelerate", "accelerate"], ["accelerate.utils", "accelerate"], ["optimum", "optimum"]]},
        modules=["accelerate"],
        distributions=["accelerate"],
    )
    assert answer["accelerate"] == {"spec": False, "import": "ModuleNotFoundError: accelerate", "version": None}
    assert answer["accelerate.utils"]["import"].startswith("ModuleNotFoundError")
    assert answer["optimum"]["spec"] is True and answer["optimum"]["import"] == "imported"
    assert answer["transformers"] == {"accelerate": False, "optimum": True}


def test_hiding_a_subpackage_keeps_its_parent():
    answer = run_hidden(
        f"{__name__}:report_hidden",
        {"names": [["optimum", "optimum"], ["optimum.quanto", "optimum-quanto"]]},
        modules=["optimum.quanto"],
        distributions=["optimum-quanto"],
    )
    assert answer["optimum"]["import"] == "imported"
    assert answer["optimum.quanto"]["spec"] is False and answer["optimum.quanto"]["version"] is None


def test_hiding_an_imported_module_is_refused():
    with pytest.raises(RuntimeError, match="already imported"):
        hide_packages(["pytest"])


def test_child_without_accelerator_sees_none():
    code = "import torch; print(torch.cuda.is_available())"
    done = subprocess.run([sys.executable, "-c", code], env=without_accelerator_env(), capture_output=True, text=True)
    assert done.stdout.strip() == "False", done.stderr[-2000:]


def test_a_child_that_gives_no_answer_is_an_error():
    with pytest.raises(RuntimeError, match="gave no answer"):
        run_hidden("qconform.no_such_module:nothing", {})


@pytest.mark.parametrize(("name", "normal"), [("optimum_quanto", "optimum-quanto"), ("Flute.Kernel", "flute-kernel")])
def test_distribution_names_are_normalised(name, normal):
    assert normalise_distribution(name) == normal
