"""Assemble the run document (schema in ``qconform.report.schema``) at the end of a session."""

from __future__ import annotations

from typing import Any

from qconform.report.schema import SCHEMA, VERSION


def run_document(session: Any, exitstatus: int) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "version": VERSION,
        "run": session.run_info(exitstatus),
        "environment": session.environment(),
        "records": session.collector.records(),
    }
