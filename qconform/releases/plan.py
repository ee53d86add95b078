"""The matrix's plan: which environments to build, from ``--transformers`` and ``--backend`` lists.

``--transformers 5.17.0,5.20.0,newest`` and ``--backend bitsandbytes=0.48.0,0.50.2`` give their cross
product, transformers first; a list that is left out means the version this interpreter has. Only
one backend varies at a time, so a change between two environments has one cause. ``newest`` stands
for the newest release the package index serves. Versions are checked against what the index serves
when it can be asked: a release it does not serve becomes an environment that is recorded as
unknown (with the nearest served releases), and the others go on.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from packaging.version import InvalidVersion, Version

NEWEST = "newest"
TRANSFORMERS = "transformers"


class PlanError(ValueError):
    """A list on the command line that cannot be read; the message says which part and why."""


def normalise(name: str) -> str:
    """PEP 503 normalisation of a distribution name (``Optimum_Quanto`` -> ``optimum-quanto``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class Environment:
    """One cell of the matrix: the releases of the varied packages; everything else stays as it is here."""

    varied: tuple[tuple[str, str], ...]  # (distribution, version), transformers first
    unknown: tuple[str, ...] = field(default=(), compare=False)  # why a version is not served, one line each

    @property
    def label(self) -> str:
        """``transformers 5.17.0`` or ``transformers 5.25.0 · bitsandbytes 0.48.0``."""
        return " · ".join(f"{name} {version}" for name, version in self.varied)

    @property
    def slug(self) -> str:
        """A file name stem: ``transformers-5.17.0`` or ``transformers-5.25.0--bitsandbytes-0.48.0``."""
        return "--".join(f"{name}-{version}" for name, version in self.varied)

    def pins(self) -> dict[str, str]:
        return dict(self.varied)


def parse_versions(text: str, what: str = TRANSFORMERS) -> list[str]:
    """``"5.17.0, 5.25.0,newest"`` -> ``["5.17.0", "5.25.0", "newest"]``; each must read as a version."""
    items = [part.strip() for part in text.split(",")]
    if not any(items):
        raise PlanError(f"{what}: no version given")
    versions: list[str] = []
    for item in items:
        if not item:
            raise PlanError(f"{what}: an empty item in {text!r}")
        if item.lower() in (NEWEST, "latest"):
            item = NEWEST
        else:
            try:
                Version(item)
            except InvalidVersion:
                raise PlanError(f"{what}: {item!r} is not a version (e.g. 5.17.0, or 'newest')") from None
        if item not in versions:
            versions.append(item)
    return versions


def parse_backend(text: str) -> tuple[str, list[str]]:
    """``"bitsandbytes=0.48.0,0.50.2"`` -> ``("bitsandbytes", ["0.48.0", "0.50.2"])``."""
    name, sep, versions = text.partition("=")
    name = name.strip()
    if not sep or not name or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name):
        raise PlanError(f"--backend {text!r}: expected NAME=VERSION[,VERSION...], e.g. bitsandbytes=0.48.0,0.50.2")
    if normalise(name) == TRANSFORMERS:
        raise PlanError("--backend: transformers is varied with --transformers")
    return normalise(name), parse_versions(versions, normalise(name))


def resolve(versions: Sequence[str], served: Sequence[str] | None, what: str) -> list[tuple[str, str | None]]:
    """Each version with why it cannot be installed (None: fine); ``newest`` becomes the newest served.

    ``served`` is what the index offers (None when it could not be asked: every concrete version is
    then taken on trust and a wrong one fails when its environment is built).
    """
    if served is None:
        if NEWEST in versions:
            raise PlanError(f"{what}: 'newest' needs the package index, which could not be asked")
        return [(v, None) for v in versions]
    final = sorted((Version(v) for v in served if not Version(v).is_prerelease), reverse=True)
    resolved: list[tuple[str, str | None]] = []
    for version in versions:
        if version == NEWEST:
            if not final:
                raise PlanError(f"{what}: the package index serves no final release")
            version = str(final[0])
        if any(Version(version) == Version(s) for s in served):
            why = None
        else:
            why = f"{what} {version} is not served by the package index ({_nearest(version, served)})"
        if all(v != version for v, _ in resolved):
            resolved.append((version, why))
    return resolved


def _nearest(version: str, served: Sequence[str]) -> str:
    if not served:
        return "it serves no release of it"
    want = Version(version)
    final = [s for s in served if not Version(s).is_prerelease] or list(served)
    ordered = sorted(final, key=Version)
    below = [s for s in ordered if Version(s) < want][-1:]
    above = [s for s in ordered if Version(s) > want][:1]
    nearest = ", ".join([*below, *above])
    return f"nearest served: {nearest}; newest: {ordered[-1]}"


def plan(
    transformers: Sequence[tuple[str, str | None]],
    backend: tuple[str, Sequence[tuple[str, str | None]]] | None = None,
) -> list[Environment]:
    """The cross product, ordered by transformers release, then by backend release."""
    by_version = sorted(transformers, key=lambda item: Version(item[0]))
    backend_versions: Sequence[tuple[str, str | None]] = [("", None)]
    if backend is not None:
        backend_versions = sorted(backend[1], key=lambda item: Version(item[0]))
    environments = []
    for t_version, t_why in by_version:
        for b_version, b_why in backend_versions:
            varied = [(TRANSFORMERS, t_version)]
            if backend is not None:
                varied.append((backend[0], b_version))
            unknown = tuple(why for why in (t_why, b_why) if why)
            environments.append(Environment(tuple(varied), unknown))
    return environments
