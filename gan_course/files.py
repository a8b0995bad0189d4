"""Writing files so that a crash, a full disk or Ctrl-C never leaves half of one.

:func:`atomic_write` is the course's one way to write a file that others read: the
checkpoints, the judge's and the generators' weights, the downloaded MNIST files. The bytes
go to a temporary file in the target's own folder, are flushed to disk (``fsync``), and only
then does ``os.replace`` rename the temporary file over the target, in one step. A reader
sees the old file or the new one, never a mixture; on any error the temporary file is
removed and the old file is left as it was.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import IO, Iterator


@contextlib.contextmanager
def atomic_write(path: str | Path, mode: str = "wb") -> Iterator[IO]:
    """``with atomic_write(path) as f: ...``: write ``f``; ``path`` appears only if the block
    finishes without an exception.

    The file gets the usual permissions (``0666`` less the umask; ``mkstemp`` alone would
    make it private), so shared caches and installed assets stay readable.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())  # the bytes are on disk before the rename makes them visible
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_torch_save(obj, path: str | Path) -> Path:
    """``torch.save(obj, path)`` through :func:`atomic_write`; returns ``path``."""
    import torch

    with atomic_write(path) as f:
        torch.save(obj, f)
    return Path(path)
