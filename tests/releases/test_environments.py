"""Environment specs: what is pinned, the cache key, the build commands, reuse of a complete environment."""

from __future__ import annotations

import json

import pytest

from qconform.releases import environments
from qconform.releases.environments import RECORD, EnvSpec, build_commands, ensure, spec_for

HERE = (
    {"torch": "2.13.0+cpu", "transformers": "5.25.0", "aqlm": "1.1.7", "autoawq": "0.2.9", "hqq": "0.2.8"},
    {"autoawq"},
)


def test_only_the_varied_package_changes():
    old, new = spec_for({"transformers": "5.17.0"}, here=HERE), spec_for({"transformers": "5.25.0"}, here=HERE)
    assert "transformers==5.17.0" in old.requirements and "transformers==5.25.0" in new.requirements
    differing = set(old.requirements) ^ set(new.requirements)
    assert differing == {"transformers==5.17.0", "transformers==5.25.0"}
    assert "torch==2.13.0+cpu" in old.requirements
    assert old.no_deps == ("autoawq==0.2.9",)  # installed here without its dependencies: the same there


def test_extras_of_the_suite_are_kept_and_packages_can_be_left_out():
    spec = spec_for({"transformers": "5.17.0"}, without=["HQQ"], here=HERE)
    assert "aqlm[cpu]==1.1.7" in spec.requirements  # qconform asks for aqlm[cpu]
    assert not any(r.startswith("hqq") for r in spec.requirements)


def test_the_key_is_stable_and_follows_every_pin():
    one = spec_for({"transformers": "5.17.0"}, here=HERE)
    again = spec_for({"transformers": "5.17.0"}, here=({k: HERE[0][k] for k in reversed(HERE[0])}, set(HERE[1])))
    assert one == again and one.key() == again.key()
    assert len(one.key()) == 16
    assert spec_for({"transformers": "5.17.1"}, here=HERE).key() != one.key()
    assert spec_for({"transformers": "5.17.0", "hqq": "0.2.7"}, here=HERE).key() != one.key()
    moved = EnvSpec(one.python, one.python_version, one.requirements, one.no_deps, "/elsewhere", one.find_links)
    assert moved.key() != one.key()


@pytest.mark.parametrize("uv", ["/usr/bin/uv", None])
def test_build_commands_pin_everything_and_install_the_checkout_editable(uv, tmp_path):
    spec = EnvSpec(
        "/usr/bin/python3",
        "3.11.7",
        ("torch==2.13.0+cpu", "transformers==5.17.0"),
        ("autoawq==0.2.9",),
        "/src/qconform",
        ("/opt/wheels",),
    )
    create, install, last = build_commands(spec, tmp_path / "env", uv)
    assert str(tmp_path / "env") in create and "/usr/bin/python3" in create
    assert install[-2:] == ["torch==2.13.0+cpu", "transformers==5.17.0"]
    assert install[install.index("--find-links") :][:2] == ["--find-links", "/opt/wheels"]
    assert "--no-deps" in last and last[-3:] == ["autoawq==0.2.9", "-e", "/src/qconform"]
    # uv writes no bytecode unless asked (pip compiles by default): without it, under PYTHONDONTWRITEBYTECODE every
    # suite run in the environment parses every module again
    assert not uv or ("--compile-bytecode" in install and "--compile-bytecode" in last)


def test_a_complete_cached_environment_is_reused_and_a_failed_build_leaves_nothing(tmp_path, monkeypatch):
    spec = spec_for({"transformers": "5.17.0"}, here=HERE)
    done = tmp_path / spec.key()
    done.mkdir()
    (done / RECORD).write_text(json.dumps({"installer": "uv"}))
    built = ensure(spec, tmp_path)
    assert built.reused and built.path == done and built.installer == "uv"

    monkeypatch.setenv("QCONFORM_INSTALLER", "pip")
    broken = EnvSpec("/nonexistent/python", "3.11.7", (), (), "/src", ())
    with pytest.raises(environments.EnvBuildError, match="cannot run /nonexistent/python"):
        ensure(broken, tmp_path)
    assert not list(tmp_path.glob(".*tmp*"))  # the staging folder is gone
