"""Helpers for the textbook's executed blocks (markdown-exec runs them at build time).

A page shows a kernel with `source_block`, the function's own source as a fenced block, so
the page cannot drift from the code, numbers as Markdown tables with `markdown_table`, and
the layout of the engine with `layout_table`, read from the package itself. All return
text: the block prints it (markdown-exec captures the block's ``print``).
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
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


def source_block(*objects, docstrings=False):
    """Each object's source as a fenced Python block titled with its file and lines.

    Docstrings are left out (``docstrings=False``): the page around the block typesets the
    same math, which inside a code block would show as raw ``$$``. The title still gives the
    lines of the whole function in the file.
    """
    blocks = []
    for obj in objects:
        source, path, first = source_of(obj)
        last = first + source.count("\n") - 1
        shown = source if docstrings else without_docstrings(source)
        blocks.append(f'```python title="{path}, lines {first}-{last}"\n'
                      f'{shown.rstrip()}\n```\n')
    return "\n".join(blocks)


def without_docstrings(source):
    """``source`` with the docstring of every function and class in it removed."""
    import textwrap

    tree = ast.parse(textwrap.dedent(source))
    drop = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and \
                ast.get_docstring(node, clean=False) is not None:
            docstring = node.body[0]
            drop.update(range(docstring.lineno, docstring.end_lineno + 1))
    return "".join(line for number, line in enumerate(source.splitlines(True), 1)
                   if number not in drop)


def summary_line(obj):
    """The first sentence of an object's docstring, on one line."""
    doc = inspect.getdoc(obj) or ""
    first = " ".join(doc.split("\n\n")[0].split())
    return first.split(". ")[0].rstrip(".") + "." if first else ""


def layout_table(package="atlas"):
    """A Markdown table of the package's layout, read from the code: every module and
    sub-package with the first sentence of its docstring; a sub-package's row names its
    modules, so no table on a page can fall behind the tree."""
    root = importlib.import_module(package)
    rows = []
    for info in pkgutil.iter_modules(root.__path__, f"{package}."):
        module = importlib.import_module(info.name)
        path = info.name.replace(".", "/") + ("/" if info.ispkg else ".py")
        text = summary_line(module).replace("|", "or")
        if info.ispkg:
            rows.extend(_package_rows(module, path, text))
        else:
            rows.append((f"`{path}`", text))
    return markdown_table(("where", "what"), rows, "ll")


def _package_rows(package, path, text):
    inner = [i for i in pkgutil.iter_modules(package.__path__, f"{package.__name__}.")
             if not i.name.rsplit(".", 1)[1].startswith("_")]
    subpackages = [i for i in inner if i.ispkg]
    modules = ", ".join(f"`{i.name.rsplit('.', 1)[1]}`" for i in inner if not i.ispkg)
    rows = [(f"`{path}`", f"{text} Modules: {modules}." if modules else text)]
    for info in subpackages:
        module = importlib.import_module(info.name)
        rows.extend(_package_rows(module, info.name.replace(".", "/") + "/",
                                  summary_line(module)))
    return rows


def markdown_table(header, rows, align=None):
    """A Markdown table; ``align`` is a string of ``l``/``r``/``c``, one per column (default:
    the first column left, the others right)."""
    align = align or "l" + "r" * (len(header) - 1)
    marks = {"l": ":--", "r": "--:", "c": ":-:"}
    lines = ["| " + " | ".join(map(str, header)) + " |",
             "| " + " | ".join(marks[a] for a in align) + " |"]
    lines += ["| " + " | ".join(map(str, row)) + " |" for row in rows]
    return "\n".join(lines) + "\n"
