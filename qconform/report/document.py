"""Assemble the run document (schema in ``qconform.report.schema``) at the end of a session."""

from __future__ import annotations

from typing import Any

from qconform.report.schema import SCHEMA, VERSION
from qconform.support.environment import fingerprint


def run_document(session: Any, exitstatus: int) -> dict[str, Any]:
    distributions = [d for t in session.targets for r in t.spec.requirements for d in (r.distribution, *r.alternatives)]
    return {
        "schema": SCHEMA,
        "version": VERSION,
        "run": session.run_info(exitstatus),
        "environment": fingerprint(distributions),
        "records": session.collector.records(),
    }
