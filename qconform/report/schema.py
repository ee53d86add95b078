"""The versioned schemas: a run file (one JSON document per pytest session) and a merged report.

Documented field by field in ``docs/report-schema.md``. A run file:

```
{"schema": "qconform.run", "version": 1,
 "run": {"started", "finished", "duration_s", "argv", "profile", "quantizers", "devices", "workers",
         "qconform_version", "import_output"},
 "environment": {... see qconform.support.environment.fingerprint ...},
 "records": [{"nodeid", "target", "origin", "check", "family", "params", "device", "outcome",
              "reason", "message", "duration_s", "measured", "counterexample", "reproduce", ["inputs"]}]}
```

``qconform report`` merges run files into a report document (``REPORT_SCHEMA``, built in
``qconform.report.merge``). A reader that meets a version it does not know refuses the file rather
than guess; a change that old readers would misread bumps the version (see the migration notes in
the schema document).
"""

from __future__ import annotations

from typing import Any

SCHEMA = "qconform.run"
VERSION = 1
REPORT_SCHEMA = "qconform.report"
REPORT_VERSION = 1

OUTCOMES = ("passed", "failed", "skipped", "xfailed", "error", "crashed", "timeout", "broken")
ORIGINS = ("transformers", "reference", "plugin", None)

_RECORD_FIELDS: dict[str, tuple[type, ...]] = {
    "nodeid": (str,),
    "target": (str, type(None)),
    "origin": (str, type(None)),
    "check": (str,),
    "family": (str,),
    "params": (dict,),
    "device": (str, type(None)),
    "outcome": (str,),
    "reason": (str, type(None)),
    "message": (str, type(None)),
    "duration_s": (int, float),
    "measured": (dict,),
    "counterexample": (str, type(None)),
    "reproduce": (str, type(None)),
}
_RUN_FIELDS: dict[str, tuple[type, ...]] = {
    "started": (str,),
    "finished": (str,),
    "duration_s": (int, float),
    "argv": (list,),
    "profile": (str, type(None)),
    "quantizers": (list,),
}


# Optional environment fields are checked when present: older and hand-made files may lack them.
_ENVIRONMENT_FIELDS: dict[str, tuple[type, ...]] = {
    "python": (str,),
    "machine": (str,),
    "cpu": (str,),
    "accelerators": (list,),
}


class SchemaError(ValueError):
    """A run file that does not follow the schema; the message names the file and the field."""


def _check_fields(obj: Any, fields: dict[str, tuple[type, ...]], where: str, source: str) -> None:
    if not isinstance(obj, dict):
        raise SchemaError(f"{source}: {where} must be an object, got {type(obj).__name__}")
    for name, types in fields.items():
        if name not in obj:
            raise SchemaError(f"{source}: {where} lacks the field {name!r}")
        if not isinstance(obj[name], types) or (isinstance(obj[name], bool) and bool not in types):
            expected = " or ".join("null" if t is type(None) else t.__name__ for t in types)
            raise SchemaError(f"{source}: {where}.{name} must be {expected}, got {type(obj[name]).__name__}")


def validate_run(doc: Any, source: str = "<run>") -> None:
    """Raise SchemaError naming ``source`` and the first offending field; return None when valid."""
    if not isinstance(doc, dict):
        raise SchemaError(f"{source}: a run file must be a JSON object, got {type(doc).__name__}")
    if doc.get("schema") != SCHEMA:
        raise SchemaError(f"{source}: field 'schema' must be {SCHEMA!r}, got {doc.get('schema')!r}")
    if doc.get("version") != VERSION or isinstance(doc.get("version"), bool):
        raise SchemaError(
            f"{source}: schema version {doc.get('version')!r} is not supported (this qconform reads {VERSION})"
        )
    for name in ("run", "environment"):
        if name not in doc:
            raise SchemaError(f"{source}: lacks the field {name!r}")
    _check_fields(doc["run"], _RUN_FIELDS, "run", source)
    _check_environment(doc.get("environment"), source)
    records = doc.get("records")
    if not isinstance(records, list):
        raise SchemaError(f"{source}: field 'records' must be a list")
    for index, record in enumerate(records):
        where = f"records[{index}]"
        _check_fields(record, _RECORD_FIELDS, where, source)
        if record["outcome"] not in OUTCOMES:
            raise SchemaError(f"{source}: {where}.outcome {record['outcome']!r} is not one of {OUTCOMES}")
        for key in record["measured"]:
            if not isinstance(key, str) or not key:
                raise SchemaError(f"{source}: {where}.measured has an empty key")
        if not isinstance(record.get("inputs", {}), dict):  # optional: the failing example's configs
            raise SchemaError(f"{source}: {where}.inputs must be an object, got {type(record['inputs']).__name__}")


def _check_environment(env: Any, source: str) -> None:
    if not isinstance(env, dict):
        raise SchemaError(f"{source}: field 'environment' must be an object")
    if not isinstance(env.get("packages"), dict):
        raise SchemaError(f"{source}: field 'environment.packages' must be an object")
    for name, version in env["packages"].items():
        if not isinstance(version, str | type(None)):
            raise SchemaError(f"{source}: environment.packages.{name} must be a version string or null")
    present = {k: v for k, v in _ENVIRONMENT_FIELDS.items() if k in env}
    _check_fields({k: env[k] for k in present}, present, "environment", source)
    for index, acc in enumerate(env.get("accelerators", [])):
        _check_fields(acc, {"name": (str,), "compute_capability": (str,)}, f"environment.accelerators[{index}]", source)
