"""The state of one qconform run inside pytest, and the hooks that need it.

Registered by ``qconform.plugin`` only when ``--quantizer`` is given. Records travel on pytest's
report objects (``user_properties``), so under pytest-xdist the controller receives every worker's
records through pytest's own report serialisation; only the controller writes the report file.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from qconform.discovery.selection import SelectionError, select, selected_by
from qconform.discovery.targets import Discovery, Target, discover
from qconform.report.records import (
    FAILURE,
    META,
    RecordCollector,
    broken_plugin_record,
    collection_error_record,
    summarize,
)
from qconform.session import collection, isolation, profiles
from qconform.session.failures import counterexample, reproduce_command

CHECKS_DIR = Path(__file__).parent.parent / "checks"


def _utcnow() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


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

    @classmethod
    def from_config(cls, config: pytest.Config) -> QconformSession:
        plugins = [p for value in config.getoption("qconform_plugin") for p in value.split(",") if p]
        try:
            profile = profiles.choose_profile(config.getoption("qconform_profile"))
            devices = collection.resolve_devices(config.getoption("qconform_device"))
        except ValueError as exc:
            raise pytest.UsageError(str(exc)) from None
        if config.getoption("qconform_profile") or not config.getoption("hypothesis_profile", None):
            profiles.load(profile)
        else:
            profile = config.getoption("hypothesis_profile")
        found = discover(plugins, selected_by(config.getoption("quantizer")))
        try:
            targets = select(config.getoption("quantizer"), found.targets)
        except SelectionError as exc:
            broken = "".join(f"\nplugin failed to import: {src}: {err}" for src, err in found.broken.items())
            raise pytest.UsageError(f"{exc}{broken}") from None
        report = config.getoption("qconform_report")
        session = cls(
            config=config,
            discovery=found,
            targets=targets,
            devices=devices,
            profile=profile,
            plugins=plugins,
            report_path=Path(report).absolute() if report else None,
            collector=RecordCollector(keys=found.targets, enrich=isolation.explain),
        )
        session.timeout = config.getoption("qconform_timeout") or None
        if not is_worker(config):
            isolation.isolation_dir()  # created now, before xdist starts workers that inherit it
        session._add_checks_to_args()
        from qconform.session import fixtures

        config.pluginmanager.register(fixtures, "qconform-fixtures")
        return session

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

    # --- running ----------------------------------------------------------------------------

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: pytest.Item | None) -> Any:
        worker = is_worker(self.config)
        with isolation.time_limit(item.nodeid, self.timeout, hard=worker):
            if not worker:
                return (yield)
            with isolation.fatal_signals_logged(item.nodeid):
                return (yield)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[Any]) -> Any:
        report = yield
        if report.failed and call.excinfo is not None:
            details = {"counterexample": counterexample(call.excinfo.value)}
            report.user_properties = [*report.user_properties, (FAILURE, details)]
        return report

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if not is_worker(self.config):
            self.collector.add_report(report)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed and not is_worker(self.config):
            self.collector.add_record(
                collection_error_record(report.nodeid, str(report.longrepr), keys=self.discovery.targets)
            )

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if is_worker(self.config):
            return
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
            "quantizers": [t.key for t in self.targets],
            "devices": self.devices,
            "workers": workers,
            "plugins": self.plugins,
            "exitstatus": int(exitstatus),
            "qconform_version": __version__,
            "import_output": self.discovery.import_output,  # what packages printed while discovered
        }
