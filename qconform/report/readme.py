"""Keep blocks of a Markdown file (a README) equal to generated matrices, each between two markers.

```
<!-- qconform:hardware-matrix -->
... replaced by ``qconform report ... --readme README.md`` ...
<!-- /qconform:hardware-matrix -->
<!-- qconform:capability-matrix -->
...
<!-- /qconform:capability-matrix -->
```

Only the text between the markers changes. The hardware matrix's markers are required: a file without
both is an error, not a guess. Other blocks are kept up to date where the file has their markers, and a
file with one marker of a pair, or one twice, is an error too.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

HARDWARE = "hardware-matrix"
CAPABILITIES = "capability-matrix"
REQUIRED = (HARDWARE,)


def markers(name: str) -> tuple[str, str]:
    return f"<!-- qconform:{name} -->", f"<!-- /qconform:{name} -->"


START, END = markers(HARDWARE)


class MarkerError(ValueError):
    pass


def has_block(text: str, name: str) -> bool:
    start, end = markers(name)
    return start in text or end in text


def with_block(text: str, block: str, source: str = "README", name: str = HARDWARE) -> str:
    """``text`` with the block between ``name``'s markers replaced by ``block``."""
    start_marker, end_marker = markers(name)
    start, end = text.find(start_marker), text.find(end_marker)
    if start < 0 or end < 0 or end < start or text.count(start_marker) != 1 or text.count(end_marker) != 1:
        raise MarkerError(f"{source}: needs one line {start_marker} and, after it, one line {end_marker}")
    head = text[: start + len(start_marker)]
    return f"{head}\n{block.rstrip()}\n{text[end:]}"


def updated(path: Path, blocks: Mapping[str, str] | str) -> str:
    """The file's text with each block (name -> text; a plain text is the hardware matrix) in place."""
    if isinstance(blocks, str):
        blocks = {HARDWARE: blocks}
    text = path.read_text(encoding="utf-8")
    for name, block in blocks.items():
        if name in REQUIRED or has_block(text, name):
            text = with_block(text, block, str(path), name)
    return text
