"""Writing files so that a crash never leaves a half-written one behind."""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def atomic_write(path, write):
    """Call ``write(fileobj)`` on a temporary file beside ``path``, then rename it over ``path``.

    The rename is atomic on POSIX: readers see either the previous file or the complete new
    one, and if ``write`` raises, the previous file is left untouched and the temporary one
    removed. The temporary file is named ``.<name>.<pid>-<random>.partial``; one left behind by a
    process that was killed (``kill -9``, a power cut) is removed by the next write of the
    same ``path``, once no live process owns it.
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"cannot save to {path}: it is a directory; give a file name "
                                f"such as {path / 'model.npz'}")
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_partials(path)
    tmp = path.parent / f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.partial"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # umask applies
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def remove_stale_partials(path):
    """Delete the temporary files of earlier writes of ``path`` whose process is gone."""
    path = Path(path)
    for partial in path.parent.glob(f".{path.name}.*.partial"):
        pid = partial.name[len(path.name) + 2:-len(".partial")].split("-")[0]
        if pid.isdigit() and not _alive(int(pid)):
            partial.unlink(missing_ok=True)


def _alive(pid):
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True
