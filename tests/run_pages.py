"""Run every executed block of the textbook's pages as markdown-exec does, and report.

``python -m tests.run_pages`` prints one JSON object: for every page, for every
``exec="on"`` block, its options, what it printed through ``print`` (what markdown-exec puts
on the page) and what reached the real standard output instead (what the page would lose
into the build log). Blocks that name a ``session`` share their globals, as in markdown-exec.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"^```python (?P<options>[^\n]*exec=\"on\"[^\n]*)\n(?P<code>.*?)^```",
                   re.MULTILINE | re.DOTALL)
OPTION = re.compile(r'(\w+)="([^"]*)"')


def executed_blocks(page):
    """``[(options, code), ...]`` of the executed Python blocks of a Markdown page."""
    return [(dict(OPTION.findall(m["options"])), m["code"])
            for m in BLOCK.finditer(page.read_text())]


def run_page(page):
    sessions: dict = {}
    results = []
    for options, code in executed_blocks(page):
        scope = sessions.setdefault(options.get("session"), {}) if "session" in options else {}
        shown = io.StringIO()
        scope["print"] = lambda *texts, end="\n", **_: shown.write(" ".join(map(str, texts)) + end)
        scope["__name__"] = "page_block"
        lost = io.StringIO()
        with contextlib.redirect_stdout(lost):
            exec(compile(code, f"{page}:block", "exec"), scope)
        results.append({"options": options, "shown": shown.getvalue(), "lost": lost.getvalue(),
                        "code": code})
    return results


def main():
    pages = sorted((ROOT / "docs").rglob("*.md"))
    report = {page.relative_to(ROOT).as_posix(): run_page(page) for page in pages
              if executed_blocks(page)}
    sys.stdout.write(json.dumps(report))


if __name__ == "__main__":
    main()
