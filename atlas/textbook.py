"""Helpers for the textbook's executed blocks (markdown-exec runs them at build time).

A page shows a kernel with `source_block`, the function's own source as a fenced block, so
the page cannot drift from the code, and numbers as Markdown tables with `markdown_table`.
Both return text: the block prints it (markdown-exec captures the block's ``print``).
"""

from __future__ import annotations

import inspect
from pathlib import Path

#: The folder that holds the ``atlas`` package: source paths are shown relative to it.
_REPOSITORY = Path(__file__).resolve().parent.parent


def source_of(obj):
    """``(source, path, first_line)`` of a function, class or module; for a Numba
    dispatcher, of the Python function it compiles."""
    obj = getattr(obj, "py_func", obj)
    lines, first = inspect.getsourcelines(obj)
    path = Path(inspect.getsourcefile(obj)).resolve()
    if path.is_relative_to(_REPOSITORY):
        path = path.relative_to(_REPOSITORY)
    return "".join(lines), path.as_posix(), max(first, 1)


def source_block(*objects):
    """Each object's source as a fenced Python block titled with its file and lines."""
    blocks = []
    for obj in objects:
        source, path, first = source_of(obj)
        last = first + source.count("\n") - 1
        blocks.append(f'```python title="{path}, lines {first}-{last}"\n'
                      f'{source.rstrip()}\n```\n')
    return "\n".join(blocks)


def markdown_table(header, rows, align=None):
    """A Markdown table; ``align`` is a string of ``l``/``r``/``c``, one per column (default:
    the first column left, the others right)."""
    align = align or "l" + "r" * (len(header) - 1)
    marks = {"l": ":--", "r": "--:", "c": ":-:"}
    lines = ["| " + " | ".join(map(str, header)) + " |",
             "| " + " | ".join(marks[a] for a in align) + " |"]
    lines += ["| " + " | ".join(map(str, row)) + " |" for row in rows]
    return "\n".join(lines) + "\n"
