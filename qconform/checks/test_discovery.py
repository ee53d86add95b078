"""Plugins that contribute quantizers must import: a broken one is reported as such, not skipped."""

from __future__ import annotations

from qconform.support.assertions import fail


def test_plugin_imports(broken_plugin):
    source, error = broken_plugin
    fail(f"{source} failed to import, so its quantizers and specs are missing from this run", [error])
