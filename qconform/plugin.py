"""pytest entry point: options, and nothing else until ``--quantizer`` is given.

Without ``--quantizer`` this plugin imports nothing heavy and changes no other test suite. With it,
``qconform.session.hooks.QconformSession`` is registered and does the work (see that module).
"""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("qconform", "quantizer conformance (qconform)")
    group.addoption(
        "--quantizer",
        action="append",
        default=[],
        metavar="METHOD",
        help="run qconform's checks on METHOD (a dispatch key; repeat or comma-separate; "
        "'all', 'reference', 'transformers', 'plugin' select groups)",
    )
    group.addoption(
        "--qconform-plugin",
        action="append",
        default=[],
        metavar="MODULE",
        help="import MODULE before reading the dispatch (it may register a quantizer and define SPECS)",
    )
    group.addoption(
        "--qconform-report", metavar="PATH", default=None, help="write a JSON record of every outcome to PATH"
    )
    group.addoption(
        "--qconform-profile",
        metavar="NAME",
        default=None,
        help="hypothesis profile: quick, ci (default when CI=true) or thorough",
    )
    group.addoption(
        "--qconform-timeout",
        type=float,
        default=600.0,
        metavar="SECONDS",
        help="per-check time limit (default 600; 0 disables). Under -n a check past it ends its worker and "
        "is recorded as a time-out; without -n only Python-level hangs can be interrupted",
    )
    group.addoption(
        "--qconform-device",
        action="append",
        default=[],
        metavar="DEVICE",
        help="devices for device-dependent checks: cpu, cuda, auto (default: cpu, and cuda when present)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "qconform_requires(*capabilities): the spec capabilities a check needs")
    config.addinivalue_line("markers", "qconform_backend: the check needs the method's packages installed")
    if not config.getoption("quantizer"):
        return
    from qconform.session import process

    owned, printed = process.before_imports(config)
    from qconform.session.hooks import QconformSession

    session = QconformSession.from_config(config)
    session.discovery.import_output[:0] = printed  # kept in the run file, as discovery's own
    config.pluginmanager.register(session, "qconform-session")
    process.after_discovery(config, owned)
