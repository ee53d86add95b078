"""Keep a block of a Markdown file (a README) equal to the hardware matrix, between two markers.

```
<!-- qconform:hardware-matrix -->
... replaced by ``qconform report ... --readme README.md`` ...
<!-- /qconform:hardware-matrix -->
```

Only the text between the markers changes; a file without both markers is an error, not a guess.
"""

from __future__ import annotations

from pathlib import Path

START = "<!-- qconform:hardware-matrix -->"
END = "<!-- /qconform:hardware-matrix -->"


class MarkerError(ValueError):
    pass


def with_block(text: str, block: str, source: str = "README") -> str:
    start, end = text.find(START), text.find(END)
    if start < 0 or end < 0 or end < start or text.count(START) != 1 or text.count(END) != 1:
        raise MarkerError(f"{source}: needs one line {START} and, after it, one line {END}")
    head = text[: start + len(START)]
    return f"{head}\n{block.rstrip()}\n{text[end:]}"


def updated(path: Path, block: str) -> str:
    return with_block(path.read_text(encoding="utf-8"), block, str(path))
