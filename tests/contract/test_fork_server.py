"""Hidden-package children forked from a snapshot answer as fresh interpreters do, and only where the snapshot
never asked the import machinery about the hidden names (``qconform.support.fork_server``)."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from qconform.support.fork_server import ALL_DISTRIBUTIONS, EVERY_GROUP, ImportLedger
from qconform.support.probes import _PENDING, missing_package_call, prefetch

REPO = Path(__file__).resolve().parents[2]


@contextmanager
def recording() -> Iterator[ImportLedger]:
    ledger = ImportLedger()
    sys.meta_path.insert(0, ledger)
    try:
        yield ledger
    finally:
        sys.meta_path.remove(ledger)


def test_the_ledger_writes_down_modules_and_distributions_asked_for():
    with recording() as ledger:
        assert importlib.util.find_spec("qconform_planted_never_installed") is None
        with pytest.raises(importlib.metadata.PackageNotFoundError):
            importlib.metadata.version("Qconform_Planted.Dist")
    assert ledger.asked_about(["qconform_planted_never_installed"], [])
    assert ledger.asked_about([], ["qconform-planted-dist"])  # names compared normalised
    assert not ledger.asked_about(["qconform_planted_other"], ["qconform-planted-other"])


def test_an_entry_point_enumeration_concerns_only_distributions_declaring_that_group():
    with recording() as ledger:
        importlib.metadata.entry_points(group="pytest11")
    assert ledger.groups == {"pytest11"}
    assert ledger.asked_about([], ["hypothesis"])  # declares a pytest11 entry point
    assert not ledger.asked_about([], ["safetensors"])  # declares none


def test_entry_points_of_every_group_concern_only_distributions_declaring_one():
    with recording() as ledger:
        importlib.metadata.entry_points()  # what triton does before .select(group=...)
    assert EVERY_GROUP in ledger.groups
    assert ledger.asked_about([], ["hypothesis"])  # declares entry points
    assert not ledger.asked_about([], ["safetensors"])  # declares none


def test_any_other_enumeration_concerns_every_distribution():
    with recording() as ledger:
        list(importlib.metadata.distributions())
    assert ALL_DISTRIBUTIONS in ledger.groups
    assert ledger.asked_about([], ["safetensors"])


SCENARIO = """
import importlib.util, json
from qconform.support import fork_server
from qconform.support.environment import run_hidden

assert fork_server.start_ledger() is not None
fork_server.snapshot_after("torch")
importlib.util.find_spec("optimum")  # planted: a question about optimum between the two snapshots
fork_server.snapshot_after("transformers.quantizers.auto")
names = [("optimum", "optimum"), ("bitsandbytes", "bitsandbytes"), ("accelerate", "accelerate"),
         ("qconform_planted_absent", "qconform-planted-absent")]
chosen = {m: getattr(fork_server.server_for([m], [d]), "after", None) for m, d in names}
asked = {m: [s.after for s in fork_server._SERVERS if s.ledger.asked_about([m], [d])] for m, d in names}
request = {"names": [["bitsandbytes", "bitsandbytes"], ["optimum", "optimum"]]}
hide = dict(modules=["bitsandbytes"], distributions=["bitsandbytes"])
forked = run_hidden("tests.contract.test_hiding:report_hidden", request, **hide)
try:
    run_hidden("qconform.no_such_module:nothing", {}, **hide)
    broken = ""
except RuntimeError as exc:
    broken = str(exc)
fork_server.stop_all()
fresh = run_hidden("tests.contract.test_hiding:report_hidden", request, **hide)
print("SCENARIO:" + json.dumps({"chosen": chosen, "asked": asked, "forked": forked, "fresh": fresh, "broken": broken}))
"""


@pytest.fixture(scope="module")
def scenario() -> dict:
    done = subprocess.run([sys.executable, "-c", SCENARIO], cwd=REPO, capture_output=True, text=True, timeout=300)
    lines = [line for line in done.stdout.splitlines() if line.startswith("SCENARIO:")]
    assert lines, done.stdout[-2000:] + done.stderr[-3000:]
    return json.loads(lines[-1].removeprefix("SCENARIO:"))


def test_a_forked_child_answers_as_a_fresh_interpreter(scenario):
    assert scenario["forked"] == scenario["fresh"]
    assert scenario["forked"]["bitsandbytes"]["import"] == "ModuleNotFoundError: bitsandbytes"


def test_each_name_goes_to_the_latest_snapshot_that_never_asked_about_it(scenario):
    snapshots = ["torch", "transformers.quantizers.auto"]
    for name, asked in scenario["asked"].items():  # what transformers asks about depends on what is installed
        expected = next((s for s in reversed(snapshots) if s not in asked), None)
        assert scenario["chosen"][name] == expected, (name, asked)
    assert scenario["asked"]["optimum"] == ["transformers.quantizers.auto"]  # planted between the snapshots
    assert "transformers.quantizers.auto" in scenario["asked"]["accelerate"]  # transformers asks while imported
    assert scenario["chosen"]["qconform_planted_absent"] == "transformers.quantizers.auto"  # nobody asked


def test_a_forked_child_that_fails_says_why(scenario):
    assert "fork" in scenario["broken"] and "No module named 'qconform.no_such_module'" in scenario["broken"]


def test_prefetched_answers_are_the_ones_the_check_reads():
    from qconform.discovery.targets import discover
    from qconform.specs.model import Requirement

    found = discover([], lambda key, origin: key == "bitsandbytes_8bit")
    targets = [found.targets["bitsandbytes_8bit"]]
    accelerate = next(r for r in targets[0].spec.requirements if r.import_name == "accelerate")
    assert isinstance(accelerate, Requirement)
    call = missing_package_call(accelerate, targets, [], hide_accelerator=False)
    assert prefetch([call, call]) == 1 and call.digest in _PENDING
    answer = call.answer()[targets[0].key]
    assert call.digest not in _PENDING
    assert answer["raised"] and "accelerate" in answer["message"].lower(), answer
