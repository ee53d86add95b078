"""Fresh, cached virtual environments: one per (Python, varied releases, everything else as it is here).

An environment holds what the suite needs, pinned to the versions this interpreter has (torch, the
core packages, qconform's extras, every backend the fingerprint or a spec names), except the packages
the matrix varies. So between
two environments only the varied package changes, and a difference in outcomes has that one cause.
The packages that pull in the varied one keep their pins too; if one of them refuses the varied
release (gptqmodel 7.6.0 wants transformers >= 5.14), the build fails and says so, and
``--without gptqmodel`` leaves it out. A distribution whose declared dependencies are not all installed
here (autoawq, sinq: installed with ``--no-deps``) is installed the same way there, and a
``sitecustomize.py`` a package drops (sinq's) goes when this environment has none. qconform itself is
installed from this checkout, editable and without dependencies, so every environment runs the same
code: the checkout's.

Built with uv (``uv venv`` + ``uv pip install``, hard links from its cache: seconds when the cache
is warm) when it is on PATH or installed as a Python package, else ``python -m venv`` + pip.
``QCONFORM_INSTALLER=pip`` forces pip. Environments live in ``$QCONFORM_CACHE/envs/<key>`` (default
``~/.cache/qconform/envs``), where the key hashes the interpreter and the pins; one is built under a
temporary name and renamed when complete, so a half-built environment is never used, and two
builders racing for one key both end with the same complete environment.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.metadata
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Collection, Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement

from qconform.releases.plan import normalise
from qconform.support.environment import BACKEND_DISTRIBUTIONS, CORE_DISTRIBUTIONS

FORMAT = 1  # bump when the layout of an environment changes, so old ones are not reused
RECORD = "qconform-env.json"
# the kit's own tools around the suite (linting, plotting reports): not needed inside an environment
_EXTRAS_OUTSIDE_THE_SUITE = ("test", "report")


class EnvBuildError(RuntimeError):
    """An environment could not be built; the message ends with the installer's own last lines."""


@dataclass(frozen=True)
class EnvSpec:
    """Everything an environment is made from; equal specs give equal keys, on any machine."""

    python: str  # the interpreter the environment is created from
    python_version: str
    requirements: tuple[str, ...]  # "name[extras]==version", installed with their dependencies
    no_deps: tuple[str, ...]  # "name==version", installed without
    source: str  # the qconform checkout, installed editable
    find_links: tuple[str, ...] = ()

    def key(self) -> str:
        blob = json.dumps({"format": FORMAT, **asdict(self)}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


def cache_root() -> Path:
    from qconform.support.cache_home import cache_home

    return cache_home() / "envs"


def base_python() -> str:
    """The interpreter under this one's virtual environment, if any: environments are made from it."""
    return getattr(sys, "_base_executable", None) or sys.executable


def checkout() -> Path:
    """The source tree this qconform is imported from (the folder with pyproject.toml)."""
    import qconform

    root = Path(qconform.__file__).resolve().parents[1]
    if not (root / "pyproject.toml").is_file():
        raise EnvBuildError(f"qconform is imported from {root}, which is not a checkout (no pyproject.toml)")
    return root


def find_links() -> tuple[str, ...]:
    """Local wheel folders pip is told about (``PIP_FIND_LINKS``): uv does not read pip's settings."""
    return tuple(p for p in os.environ.get("PIP_FIND_LINKS", "").split() if p)


def suite_distributions() -> dict[str, str]:
    """Distribution -> extras (``"[cpu]"`` or ``""``) of what the suite runs with: qconform's requirements
    (every extra but the tools around it) and the packages the fingerprint records."""
    names: dict[str, str] = {}
    for text in importlib.metadata.requires("qconform") or []:
        try:
            requirement = Requirement(text)
        except InvalidRequirement:
            continue
        marker = str(requirement.marker or "")
        if any(f'extra == "{extra}"' in marker for extra in _EXTRAS_OUTSIDE_THE_SUITE):
            continue
        name = normalise(requirement.name)
        if name == "qconform":
            continue
        extras = f"[{','.join(sorted(requirement.extras))}]" if requirement.extras else ""
        names[name] = extras or names.get(name, "")
    for name in (*CORE_DISTRIBUTIONS, *BACKEND_DISTRIBUTIONS, "pytest-xdist"):
        names.setdefault(normalise(name), "")
    return names


def installed_without_dependencies(name: str) -> bool:
    """True when ``name`` is installed here but some of its declared dependencies are not (``--no-deps``)."""
    for text in importlib.metadata.requires(name) or []:
        requirement = Requirement(text)
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue
        try:
            version = importlib.metadata.version(requirement.name)
        except importlib.metadata.PackageNotFoundError:
            return True
        if not requirement.specifier.contains(version, prereleases=True):
            return True
    return False


def spec_distributions() -> set[str]:
    """The packages the specs name as their methods' requirements (the run file records them too)."""
    from qconform.discovery.registry import load_registry

    registry = load_registry()
    return {normalise(r.distribution) for spec in registry.specs.values() for r in spec.requirements}


@functools.cache
def pins_here() -> tuple[dict[str, str], frozenset[str]]:
    """The version here of every suite distribution that is installed, and which went in with ``--no-deps``."""
    names = sorted({*suite_distributions(), *spec_distributions()})
    versions = {name: v for name in names if (v := _installed_version(name)) is not None}
    return dict(sorted(versions.items())), frozenset(name for name in versions if installed_without_dependencies(name))


def spec_for(
    varied: Mapping[str, str],
    without: Iterable[str] = (),
    here: tuple[Mapping[str, str], Collection[str]] | None = None,
) -> EnvSpec:
    """The spec of an environment with ``varied`` (name -> version), every other pin as ``here``.

    ``here`` is (versions, names installed without dependencies), by default this interpreter's.
    """
    versions, bare = here if here is not None else pins_here()
    extras = suite_distributions()
    left_out = {normalise(n) for n in without}
    pins = {normalise(n): v for n, v in versions.items() if normalise(n) not in left_out}
    pins.update({normalise(n): v for n, v in varied.items()})
    requirements, no_deps = [], []
    for name, version in sorted(pins.items()):
        if name in bare:
            no_deps.append(f"{name}=={version}")
        else:
            requirements.append(f"{name}{extras.get(name, '')}=={version}")
    return EnvSpec(
        python=base_python(),
        python_version=platform.python_version(),
        requirements=tuple(requirements),
        no_deps=tuple(no_deps),
        source=str(checkout()),
        find_links=find_links(),
    )


def _installed_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def uv_binary() -> str | None:
    """uv on PATH, or the binary of the ``uv`` Python package; None when neither (or pip is forced)."""
    if os.environ.get("QCONFORM_INSTALLER", "").lower() == "pip":
        return None
    found = shutil.which("uv")
    if found:
        return found
    with contextlib.suppress(Exception):
        from uv import find_uv_bin  # type: ignore[import-not-found]

        return find_uv_bin()
    return None


def python_of(env: Path) -> Path:
    return env / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


@dataclass(frozen=True)
class Built:
    path: Path
    python: Path
    reused: bool
    installer: str
    seconds: float


def ensure(spec: EnvSpec, root: Path | None = None, timeout: float = 1800) -> Built:
    """The environment of ``spec``: the cached one when complete, else built now (atomically)."""
    root = root or cache_root()
    final = root / spec.key()
    if (final / RECORD).is_file():
        return Built(final, python_of(final), True, _read_record(final).get("installer", "?"), 0.0)
    root.mkdir(parents=True, exist_ok=True)
    staging = root / f".{spec.key()}.tmp-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    uv = uv_binary()
    started = time.monotonic()
    try:
        _build(spec, staging, uv, timeout)
        seconds = time.monotonic() - started
        record = {
            "key": spec.key(),
            "spec": asdict(spec),
            "installer": "uv" if uv else "pip",
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "build_seconds": round(seconds, 1),
        }
        (staging / RECORD).write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
        try:
            staging.rename(final)
        except OSError:
            if not (final / RECORD).is_file():  # not a builder that won the race: a real failure
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return Built(final, python_of(final), False, "uv" if uv else "pip", seconds)


def _read_record(path: Path) -> dict:
    with contextlib.suppress(OSError, ValueError):
        return json.loads((path / RECORD).read_text(encoding="utf-8"))
    return {}


def build_commands(spec: EnvSpec, env: Path, uv: str | None) -> list[list[str]]:
    """The commands that make the environment at ``env`` (the installer's, in order)."""
    python = str(python_of(env))
    links = [arg for link in spec.find_links for arg in ("--find-links", link)]
    last = [*spec.no_deps, "-e", spec.source]
    if uv:
        # uv writes no bytecode unless asked, and with PYTHONDONTWRITEBYTECODE set (as on CI machines) nothing
        # else would: every suite run in the environment then parsed every module again (11.6 s to import torch
        # and transformers' dispatch against 5.3 s)
        install = [uv, "pip", "install", "--quiet", "--compile-bytecode", "--python", python, *links]
        return [
            [uv, "venv", "--quiet", "--relocatable", "--python", spec.python, str(env)],
            [*install, *spec.requirements],
            [*install, "--no-deps", *last],
        ]
    install = [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *links]
    return [
        [spec.python, "-m", "venv", str(env)],
        [*install, *spec.requirements],
        [*install, "--no-deps", *last],
    ]


def _build(spec: EnvSpec, env: Path, uv: str | None, timeout: float) -> None:
    _run_all(build_commands(spec, env, uv), timeout)
    _drop_startup_hooks(env)


def _drop_startup_hooks(env: Path) -> None:
    """Remove a ``sitecustomize.py`` a package installed (sinq 0.2.0's imports sinq at every interpreter
    start) when the running environment has none: scripts/setup.sh removes it here, so it goes there too."""
    import site
    import sysconfig

    if any((Path(p) / "sitecustomize.py").is_file() for p in [*site.getsitepackages(), sysconfig.get_path("purelib")]):
        return
    for hook in env.glob("lib/python*/site-packages/sitecustomize.py"):
        hook.unlink()


def _run_all(commands: list[list[str]], timeout: float) -> None:
    for command in commands:
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise EnvBuildError(f"timed out after {timeout:.0f} s: {_shown(command)}") from None
        except OSError as exc:
            raise EnvBuildError(f"cannot run {command[0]}: {exc.strerror or exc}") from None
        if done.returncode != 0:
            output = (done.stderr.strip() or done.stdout.strip()).splitlines()
            tail = "\n".join(output[-25:])
            raise EnvBuildError(f"exit {done.returncode}: {_shown(command)}\n{tail}")


def _shown(command: list[str]) -> str:
    text = " ".join(command)
    return text if len(text) < 400 else text[:400] + " …"
