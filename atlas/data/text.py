"""Text corpora for character-level models: the source of Python's own standard library
(on every machine that runs atlas, no download) or any UTF-8 text file, and the
character vocabulary that turns text into integer tokens and back."""

from __future__ import annotations

import sysconfig
from pathlib import Path

import numpy as np

from atlas.checks import integer


def python_stdlib_files(max_chars: int | None = 4_000_000) -> list[str]:
    """The ``.py`` files of the running Python's standard library, one string per file.

    Files are read in sorted path order (the same list on every run of one Python
    version), tests and files that are not pure ASCII are left out, and reading stops
    once ``max_chars`` characters are collected (None: all of it, about 25 MB; the last
    file is cut at the limit). Like the classic experiment on the Linux kernel's source:
    real code, with its indentation, names, strings and comments.
    """
    if max_chars is not None:
        max_chars = integer(max_chars, "max_chars", "python_stdlib_files")
    root = Path(sysconfig.get_paths()["stdlib"])
    if not root.is_dir():
        raise FileNotFoundError(f"the standard library's source is not at {root}; "
                                f"pass a text file instead (--text FILE)")
    files, total = [], 0
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root).parts
        if "site-packages" in relative or any(p in ("test", "tests", "idlelib") for p in
                                                relative):
            continue
        try:
            text = path.read_text(encoding="ascii")
        except (UnicodeDecodeError, OSError):
            continue
        if not text:
            continue
        if max_chars is not None and total + len(text) >= max_chars:
            files.append(text[:max_chars - total])
            break
        files.append(text)
        total += len(text)
    if not files:
        raise FileNotFoundError(f"no readable .py files under {root}")
    return files


def python_stdlib_source(max_chars: int | None = 4_000_000) -> str:
    """`python_stdlib_files` concatenated into one text."""
    return "".join(python_stdlib_files(max_chars))


def read_text(path, max_chars: int | None = None) -> str:
    """The contents of a UTF-8 text file, with an error that says what is wrong."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no text file at {path}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(f"{path} is not UTF-8 text ({error.reason} at byte {error.start})") \
            from None
    if len(text) < 2:
        raise ValueError(f"{path} holds {len(text)} characters; a language model needs text")
    return text if max_chars is None else text[:max_chars]


class CharVocabulary:
    """The distinct characters of a text, sorted, each with its integer token.

    >>> vocab = CharVocabulary("hello")
    >>> vocab.chars, vocab.encode("hell").tolist(), vocab.decode([1, 3])
    ('ehlo', [1, 0, 2, 2], 'eo')
    """

    def __init__(self, text: str):
        self.chars = "".join(sorted(set(text)))
        if not self.chars:
            raise ValueError("a vocabulary needs at least one character")
        self._index = {c: i for i, c in enumerate(self.chars)}

    def __len__(self):
        return len(self.chars)

    def encode(self, text: str) -> np.ndarray:
        """Tokens ``(len(text),)`` int64; a character outside the vocabulary is an error."""
        try:
            return np.fromiter((self._index[c] for c in text), dtype=np.int64, count=len(text))
        except KeyError as error:
            raise ValueError(f"character {error.args[0]!r} is not in the vocabulary of "
                             f"{len(self)} characters") from None

    def decode(self, tokens) -> str:
        return "".join(self.chars[int(t)] for t in tokens)
