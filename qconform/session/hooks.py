"""The state of one qconform run inside pytest, and the hooks that need it.

Registered by ``qconform.plugin`` only when ``--quantizer`` is given. Records travel on pytest's
report objects (``user_properties``), so under pytest-xdist the controller receives every worker's
records through pytest's own report serialisation; only the controller writes the report file.
"""

from __future__ import annotations

import contextlib
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from qconform.discovery.selection import (
    GROUPS,
    SelectionError,
    builtin_dispatch_keys,
    select,
    selected_by,
    split_values,
)
from qconform.discovery.targets import Discovery, Target, discover
from qconform.inputs import recorded
from qconform.report.records import (
    FAILURE,
    INPUTS,
    META,
    WORKER_FACTS,
    RecordCollector,
    broken_plugin_record,
    collection_error_record,
    properties,
    summarize,
)
from qconform.session import collection, isolation, profiles
from qconform.session.failures import counterexample, reproduce_command
from qconform.session.process import is_controller, is_worker

CHECKS_DIR = Path(__file__).parent.parent / "checks"
KNOWN_DEVIATION = pytest.StashKey[bool]()  # the check's variant fails by declaration: no shrinking (profiles)
PREFETCHED_CHECK = "test_missing_package_is_named"  # its hidden-package children start ahead without xdist


def _utcnow() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass(eq=False)  # registered with pluggy, which needs it hashable
class QconformSession:
    config: pytest.Config
    discovery: Discovery
    targets: list[Target]
    devices: list[str]
    profile: str | None
    plugins: list[str]
    report_path: Path | None
    collector: RecordCollector = field(default_factory=RecordCollector)
    timeout: float | None = None
    started: str = field(default_factory=_utcnow)
    t0: float = field(default_factory=time.monotonic)
    deferred: list[str] | None = None  # an xdist controller that left discovery to its workers: the names asked for
    worker_facts: dict[str, Any] | None = None  # what a worker found (see ``facts``), from its first report
    facts_sent: bool = False  # a worker's: its facts went out on its first report

    @classmethod
    def from_config(cls, config: pytest.Config) -> QconformSession:
        plugins = [p for value in config.getoption("qconform_plugin") for p in value.split(",") if p]
        deferred = _keys_for_workers(config, plugins)
        try:
            profile = profiles.choose_profile(config.getoption("qconform_profile"))
            devices = collection.resolve_devices(config.getoption("qconform_device"), look=deferred is None)
        except ValueError as exc:
            raise pytest.UsageError(str(exc)) from None
        if config.getoption("qconform_profile") or not config.getoption("hypothesis_profile", None):
            profiles.load(profile)
        else:
            profile = config.getoption("hypothesis_profile")
        if deferred is None:
            found, targets = _discover_and_select(config, plugins)
        else:
            found, targets = Discovery(targets={}), []
        report = config.getoption("qconform_report")
        session = cls(
            config=config,
            discovery=found,
            targets=targets,
            devices=devices,
            profile=profile,
            plugins=plugins,
            report_path=Path(report).absolute() if report else None,
            collector=RecordCollector(keys=deferred or found.targets, enrich=isolation.explain),
            deferred=deferred,
        )
        session.timeout = config.getoption("qconform_timeout") or None
        if not is_worker(config):
            isolation.isolation_dir()  # created now, before xdist starts workers that inherit it
        session._add_checks_to_args()
        from qconform.session import fixtures

        config.pluginmanager.register(fixtures, "qconform-fixtures")
        return session

    @property
    def keys(self) -> list[str]:
        return [t.key for t in self.targets] if self.deferred is None else list(self.deferred)

    def facts(self) -> dict[str, Any]:
        """What a worker found that its controller, having deferred discovery, reports from."""
        from qconform.support.environment import fingerprint

        return {
            "keys": [t.key for t in self.targets],
            "devices": self.devices,
            "environment": fingerprint(self.distributions()),
            "import_output": self.discovery.import_output,
            "broken": self.discovery.broken,
        }

    def distributions(self) -> list[str]:
        """The selected methods' packages, each recorded in the run's environment (installed or not)."""
        return [d for t in self.targets for r in t.spec.requirements for d in (r.distribution, *r.alternatives)]

    def environment(self) -> dict[str, Any]:
        from qconform.support.environment import fingerprint

        return self.worker_facts["environment"] if self.worker_facts else fingerprint(self.distributions())

    def _complete_deferred(self) -> None:
        """A controller that deferred discovery takes the workers' facts, or discovers now if none finished."""
        if self.deferred is None:
            return
        if self.worker_facts is None:
            self.discovery, self.targets = _discover_and_select(self.config, self.plugins)
            self.devices = collection.resolve_devices(self.config.getoption("qconform_device"))
            self.deferred = None
            return
        self.deferred = self.worker_facts["keys"]  # groups ("all") resolved
        self.collector.keys = tuple(self.deferred)
        self.devices = self.worker_facts["devices"]
        self.discovery.import_output = self.worker_facts["import_output"]
        self.discovery.broken = self.worker_facts["broken"]

    def _add_checks_to_args(self) -> None:
        """Collect the built-in checks; without explicit paths, only them (works from any directory)."""
        checks = str(CHECKS_DIR)
        if any(Path(arg.split("::")[0]).resolve().is_relative_to(CHECKS_DIR.resolve()) for arg in self.config.args):
            return
        if self.config.args_source == pytest.Config.ArgsSource.ARGS:
            self.config.args.append(checks)
        else:
            self.config.args[:] = [checks]

    # --- collection -------------------------------------------------------------------------

    def pytest_report_header(self, config: pytest.Config) -> list[str]:
        if self.deferred is not None:
            return [
                f"qconform: {len(self.keys)} quantizer(s): {', '.join(self.keys)} (discovered by the workers)",
                f"qconform: profile={self.profile}",
            ]
        lines = [
            f"qconform: {len(self.targets)} quantizer(s): {', '.join(t.key for t in self.targets)}",
            f"qconform: profile={self.profile} devices={','.join(self.devices)}",
        ]
        lines += [f"qconform: plugin failed to import: {src}: {err}" for src, err in self.discovery.broken.items()]
        if self.discovery.import_output:
            kept = "kept in the run file (run.import_output)" if self.report_path else "--qconform-report keeps them"
            lines.append(f"qconform: {len(self.discovery.import_output)} lines printed by packages on import, {kept}")
        return lines

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        if not metafunc.module.__name__.startswith("qconform.checks"):
            return
        names = metafunc.fixturenames
        markers = list(metafunc.definition.iter_markers())
        # a check that parametrizes ``arch`` itself keeps its own choice; otherwise ``arch`` follows the target
        own_arch = any(m.name == "parametrize" and "arch" in str(m.args[0]) for m in markers)
        if "broken_plugin" in names:
            broken = sorted(self.discovery.broken.items())
            metafunc.parametrize("broken_plugin", broken, ids=[src for src, _ in broken] or None)
        elif "target" in names and "device" in names:
            per_arch = "arch" in names and not own_arch  # a check over tiny architectures: those of each target's spec
            params = collection.target_device_params(self.targets, self.devices, markers, per_arch)
            metafunc.parametrize(("target", "device", "arch") if per_arch else ("target", "device"), params)
        elif "target" in names:
            per_arch = "arch" in names and not own_arch
            params = collection.target_params(self.targets, markers, per_arch)
            metafunc.parametrize(("target", "arch") if per_arch else "target", params)

    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        unused = [i for i in items if "broken_plugin" in getattr(i, "fixturenames", ()) and not self.discovery.broken]
        if unused:
            config.hook.pytest_deselected(items=unused)
            items[:] = [i for i in items if i not in unused]
        for item in items:
            callspec = getattr(item, "callspec", None)
            if callspec and "broken_plugin" in callspec.params:
                meta = {
                    "target": None,
                    "origin": "plugin",
                    "check": item.originalname,
                    "family": "discovery",
                    "params": {"plugin": callspec.params["broken_plugin"][0]},
                    "device": None,
                    "failure_outcome": "broken",
                }
                item.user_properties.append((META, meta))
                continue
            target = callspec.params.get("target") if callspec else None
            if not isinstance(target, Target):
                continue
            check = getattr(item, "originalname", item.name)
            device = callspec.params.get("device")
            for mark in collection.deviation_marks(target, check, callspec.id):
                item.add_marker(mark)
                item.stash[KNOWN_DEVIATION] = True
            params = {k: str(v) for k, v in callspec.params.items() if k not in ("target", "device")}
            meta = {
                "target": target.key,
                "origin": target.origin,
                "check": check,
                "family": Path(str(item.path)).stem.removeprefix("test_"),
                "params": params,
                "device": device,
                "reproduce": reproduce_command(target.key, item.name, self.profile, device, self.plugins),
            }
            item.user_properties.append((META, meta))
        if self._prefetching():  # checks that wait on hidden-package children go last: those start ahead
            items.sort(key=lambda item: getattr(item, "originalname", None) == PREFETCHED_CHECK)  # stable

    def _prefetching(self) -> bool:
        return not is_worker(self.config) and not is_controller(self.config)

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        """Without xdist the checks use one core: the hidden-package children start now, on the other."""
        if not self._prefetching() or self.config.option.collectonly:
            return
        from qconform.support.probes import cancel_prefetch, missing_package_calls, prefetch

        calls = []
        for item in session.items:
            callspec = getattr(item, "callspec", None)
            if getattr(item, "originalname", None) == PREFETCHED_CHECK and callspec:
                target, device = callspec.params["target"], callspec.params["device"]
                calls += missing_package_calls(target, device, self.targets, self.plugins)
        if prefetch(calls):
            self.config.add_cleanup(cancel_prefetch)

    # --- running ----------------------------------------------------------------------------

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: pytest.Item | None) -> Any:
        worker = is_worker(self.config)
        shrinking = contextlib.nullcontext()
        if item.stash.get(KNOWN_DEVIATION, False):
            shrinking = profiles.without_shrinking(getattr(item, "obj", None))
        with isolation.time_limit(item.nodeid, self.timeout, hard=worker), shrinking:
            if not worker:
                return (yield)
            with isolation.fatal_signals_logged(item.nodeid):
                return (yield)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Any:
        """The configs a failing check drew (its last example: hypothesis ends with the failing one) go on its
        record; a passing check's draws say nothing and stay off its reports."""
        with recorded.collecting() as drawn:
            try:
                return (yield)
            except BaseException:
                if drawn:
                    item.user_properties.append((INPUTS, drawn))
                raise

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[Any]) -> Any:
        report = yield
        if report.failed and call.excinfo is not None:
            details = {"counterexample": counterexample(call.excinfo.value)}
            report.user_properties = [*report.user_properties, (FAILURE, details)]
        if is_worker(self.config) and not self.facts_sent:  # on the first report: an interrupted run has them too
            report.user_properties = [*report.user_properties, (WORKER_FACTS, self.facts())]
            self.facts_sent = True
        return report

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if is_worker(self.config):
            return
        self.collector.add_report(report)
        if self.deferred is not None and self.worker_facts is None:
            self.worker_facts = next(iter(properties(report, WORKER_FACTS)), None)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed and not is_worker(self.config):
            self.collector.add_record(collection_error_record(report.nodeid, str(report.longrepr), keys=self.keys))

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if is_worker(self.config):
            return
        self._complete_deferred()
        self._record_broken_plugins_not_run()
        if self.report_path is None:
            return
        from qconform.report.document import run_document
        from qconform.report.writer import write_json_atomic

        doc = run_document(self, exitstatus)
        write_json_atomic(self.report_path, doc)

    def _record_broken_plugins_not_run(self) -> None:
        """A broken plugin stays in the report even when -k deselected its check."""
        reported = {r["params"].get("plugin") for r in self.collector.records() if r["family"] == "discovery"}
        for source, error in self.discovery.broken.items():
            if source not in reported:
                self.collector.add_record(broken_plugin_record(source, error))

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if is_worker(self.config):
            return
        counts = summarize(self.collector.records())
        text = ", ".join(f"{n} {k}" for k, n in counts.items()) or "no checks ran"
        terminalreporter.write_sep("-", "qconform")
        terminalreporter.write_line(f"qconform: {text}")
        if self.report_path is not None:
            terminalreporter.write_line(f"qconform: report written to {self.report_path}")

    def run_info(self, exitstatus: int) -> dict[str, Any]:
        workers = getattr(self.config.option, "numprocesses", None)
        from qconform import __version__

        return {
            "started": self.started,
            "finished": _utcnow(),
            "duration_s": round(time.monotonic() - self.t0, 3),
            "argv": list(sys.argv),
            "profile": self.profile,
            "quantizers": self.keys,
            "devices": self.devices,
            "workers": workers,
            "plugins": self.plugins,
            "exitstatus": int(exitstatus),
            "qconform_version": __version__,
            "import_output": self.discovery.import_output,  # what packages printed while discovered
        }


def _discover_and_select(config: pytest.Config, plugins: list[str]) -> tuple[Discovery, list[Target]]:
    found = discover(plugins, selected_by(config.getoption("quantizer")))
    try:
        return found, select(config.getoption("quantizer"), found.targets)
    except SelectionError as exc:
        broken = "".join(f"\nplugin failed to import: {src}: {err}" for src, err in found.broken.items())
        raise pytest.UsageError(f"{exc}{broken}") from None


def _keys_for_workers(config: pytest.Config, plugins: list[str]) -> list[str] | None:
    """The names an xdist controller leaves to its workers, or None where it discovers itself.

    Discovery imports torch and transformers (6 s of a 15 s run of one method; 24 s with every method probed);
    a controller runs no check, so it defers when every value is a group ("all") or one of transformers' own
    dispatch keys, read from its source. Anything else (twins, plugins) is discovered here, so that a wrong name
    is a usage error before workers start."""
    if not is_controller(config) or plugins:
        return None
    names = split_values(config.getoption("quantizer"))
    known = builtin_dispatch_keys() | set(GROUPS)
    return names if names and all(n in known for n in names) else None
