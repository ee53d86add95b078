"""Script bodies for the config checks (round trips, invalid configs): text, no logic."""

from __future__ import annotations

TO_DICT_IS_JSON = """
def contract(config) -> list[str]:
    try:
        json.dumps(config.to_dict(), allow_nan=False)
    except (TypeError, ValueError) as error:
        return [f"to_dict() is not plain JSON: {error}"]
    return []


def check() -> list[str]:
    return run_cases(single_cases(), contract)
"""

SAME_CLASS_AND_DICT = """
def contract(config) -> list[str]:
    before = json_round_trip(config.to_dict())
    again = round_trip(config)
    lines = []
    if type(again) is not type(config):
        lines.append(f"from_dict(to_dict()) gives {type(again).__name__}, not {type(config).__name__}")
    return lines + differences(before, json_round_trip(again.to_dict()))


def check() -> list[str]:
    return run_cases(single_cases(), contract)
"""

KEEPS_TYPES = """
def contract(config) -> list[str]:
    return [line for line in differences(config.to_dict(), round_trip(config).to_dict()) if ": type " in line]


def check() -> list[str]:
    return run_cases(single_cases(), contract)
"""

IDEMPOTENT = """
def contract(config) -> list[str]:
    once = round_trip(config)
    twice = round_trip(once)
    return [f"a second round trip changed {line}" for line in differences(once.to_dict(), twice.to_dict())]


def check() -> list[str]:
    return run_cases(single_cases(), contract)
"""

TO_JSON_STRING = """
def contract(config) -> list[str]:
    lines = []
    for use_diff in (True, False):
        text = config.to_json_string(use_diff=use_diff)
        try:
            parsed = json.loads(text)
        except ValueError as error:
            lines.append(f"to_json_string(use_diff={use_diff}) is not JSON: {error}")
            continue
        if not isinstance(parsed, dict):
            lines.append(f"to_json_string(use_diff={use_diff}) is not a JSON object")
    full = json.loads(config.to_json_string(use_diff=False))
    disagree = differences(json_round_trip(config.to_dict()), full)
    return lines + [f"to_json_string disagrees with to_dict: {line}" for line in disagree]


def check() -> list[str]:
    return run_cases(single_cases(), contract)
"""

INVALID_REFUSED = '''
def names_field(message: str, field: str) -> bool:
    """The message names the field: its name, or all of its words (quant_type ~ "quantization type")."""
    text = message.lower()
    words = [w for w in field.lower().split("_") if w]
    return field.lower() in text or all(w in text for w in words)


def contract(kwargs: dict, field: str) -> list[str]:
    try:
        config = CONFIG_CLASS(**copy.deepcopy(kwargs))
    except (ValueError, TypeError) as error:
        if names_field(str(error), field):
            return []
        return [f"refused with {type(error).__name__}: {first_line(error)!r}, which does not name {field!r}"]
    except ImportError:
        raise
    except Exception as error:
        return [f"refused with {type(error).__name__}, not ValueError/TypeError: {first_line(error)}"]
    shown = " ".join(repr(config).split())  # one line: some reprs are indented JSON
    return [f"accepted, although invalid for {field!r}: {shown}"[:300]]


def check() -> list[str]:
    cases = [(f"{CONFIG_CLASS.__name__}(**{kwargs!r})", (kwargs, field)) for kwargs, field in INVALID]
    return run_cases(cases, contract)
'''
