"""Shell blocks of the docs that are meant to run, marked by an HTML comment on the line above
the fence: ``<!-- doc-test: run -->`` (run it), ``<!-- doc-test: serve -->`` (it starts the
server: run it in the background), optionally with settings (``agents=compute-1,compute-2``)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

MARKED = re.compile(r"<!-- doc-test: (\w+)([^>]*)-->\n```(?:sh|bash|console)\n(.*?)```", re.S)


@dataclass(frozen=True)
class Block:
    path: Path
    kind: str
    script: str
    options: dict[str, str] = field(default_factory=dict)


def blocks(path: Path) -> list[Block]:
    found = []
    for match in MARKED.finditer(path.read_text()):
        options = dict(item.split("=", 1) for item in match.group(2).split() if "=" in item)
        found.append(Block(path, match.group(1), match.group(3), options))
    return found
