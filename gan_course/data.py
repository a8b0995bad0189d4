"""MNIST for the course: download from a working mirror, verify by MD5, cache, and fall back
to a bundled 10,000-digit subset when there is no network.

Scaling. MNIST stores each pixel as a byte ``v`` in 0..255 (0 = background, 255 = ink).
The generators end in ``tanh``, whose range is [-1, 1], so real images must live there too::

    x = v / 127.5 - 1        (background -> -1, ink -> +1)
    v = round((x + 1) * 127.5)   (:func:`to_uint8`, clipped to 0..255)

Real data scaled to [0, 1] next to a tanh generator is a classic tutorial bug: D can then
tell real from fake by the sign of the background alone.

Where files go. :func:`data_dir` is ``$GAN_COURSE_DATA`` or ``~/.cache/gan_course``; the
four ``.gz`` files live in its ``mnist/`` folder. Extra mirrors (base URLs, comma-separated)
in ``$GAN_COURSE_MNIST_MIRRORS`` are tried before the default one.

Never half-written. A download goes to a temporary file in the same folder; only after its
MD5 matches is it renamed (``os.replace``, atomic on one file system) to its final name.

Splits. The full set uses the official 60,000 train / 10,000 test split. The bundled subset
(``assets/mnist10k.npz``, ordered by digit) is shuffled by ``np.random.default_rng(0)``;
the first 8,000 digits are the training set, the last 2,000 the held-out set.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.client
import os
import socket
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from gan_course.files import atomic_write

DATA_ENV = "GAN_COURSE_DATA"
MIRRORS_ENV = "GAN_COURSE_MNIST_MIRRORS"

# Base URLs; a file's URL is base + file name. The original yann.lecun.com site now answers
# 403/404, so it is not listed.
MNIST_MIRRORS = ["https://ossci-datasets.s3.amazonaws.com/mnist/"]

# File name -> MD5 of the .gz file. Module-level so tests can swap in a table of their own.
MNIST_FILES = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
# Which file holds what; the loader reads them through these names.
MNIST_PARTS = {
    "x_train": "train-images-idx3-ubyte.gz",
    "y_train": "train-labels-idx1-ubyte.gz",
    "x_test": "t10k-images-idx3-ubyte.gz",
    "y_test": "t10k-labels-idx1-ubyte.gz",
}

IMAGES_MAGIC = 0x00000803  # uint8, 3 dimensions (N, 28, 28)
LABELS_MAGIC = 0x00000801  # uint8, 1 dimension (N,)

# Seconds a mirror may stay silent before load_mnist() gives up on it.
DOWNLOAD_TIMEOUT = 30.0

SUBSET_PATH = Path(__file__).resolve().parent / "assets" / "mnist10k.npz"
SUBSET_TRAIN = 8000  # the first 8,000 of the shuffled subset train; the last 2,000 are held out
SUBSET_SEED = 0

_CHUNK = 1 << 16


class MNISTUnavailable(RuntimeError):
    """Full MNIST could not be had (not cached, and downloading failed or was not allowed)."""

    short = "not cached"


class DownloadError(MNISTUnavailable):
    """Every mirror failed for one file. ``failures`` lists ``(url, reason)`` per mirror."""

    def __init__(self, name: str, failures: list[tuple[str, str]], offline: bool):
        self.failures = failures
        self.offline = offline
        self.short = "no network" if offline else "download failed"
        lines = "\n".join(f"  - {url}: {why}" for url, why in failures)
        super().__init__(
            f"could not download {name} from any mirror:\n{lines}\n"
            "What to do: check your network connection and try `python -m gan_course download` "
            f"again, or add a working mirror (a base URL ending in /) to ${MIRRORS_ENV}, "
            "comma-separated. Offline, load_mnist() uses the bundled 10,000-digit subset.")


class DataDirError(MNISTUnavailable):
    """The cache folder cannot be created or written to."""

    short = "cache folder not writable"

    def __init__(self, folder: Path, why: str):
        self.folder = folder
        super().__init__(
            f"cannot write to the MNIST cache folder {folder} ({why}). "
            f"Set the environment variable {DATA_ENV} to a folder you can write to, "
            "e.g. `export GAN_COURSE_DATA=$HOME/gan_course_data`, or pass dest=... .")


class IDXError(ValueError):
    """A file that is not a well-formed uint8 IDX file."""


# --------------------------------------------------------------------------- where things go

def data_dir() -> Path:
    """The course's data cache: ``$GAN_COURSE_DATA`` if set, else ``~/.cache/gan_course``."""
    env = os.environ.get(DATA_ENV, "").strip()
    return Path(env).expanduser() if env else Path.home() / ".cache" / "gan_course"


def mnist_dir() -> Path:
    """Where the four MNIST ``.gz`` files are cached: ``data_dir() / "mnist"``."""
    return data_dir() / "mnist"


def mnist_mirrors() -> list[str]:
    """Mirrors in the order they are tried: ``$GAN_COURSE_MNIST_MIRRORS`` first, then defaults."""
    extra = [m.strip() for m in os.environ.get(MIRRORS_ENV, "").split(",") if m.strip()]
    out: list[str] = []
    for base in extra + list(MNIST_MIRRORS):
        base = base if base.endswith("/") else base + "/"
        if base not in out:
            out.append(base)
    return out


def md5_of(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_CHUNK), b""):
            h.update(block)
    return h.hexdigest()


_md5_memo: dict[tuple[str, int, int], str] = {}


def is_verified(path: Path, md5: str) -> bool:
    """True when ``path`` exists and its MD5 is ``md5``.

    The MD5 of a file is remembered for its (path, size, modification time), so repeated
    ``load_mnist()`` calls do not re-read 11 MB each time; any change to the file
    re-hashes it.
    """
    if not path.is_file():
        return False
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _md5_memo:
        _md5_memo[key] = md5_of(path)
    return _md5_memo[key] == md5


def cached_full_mnist(dest: str | Path | None = None) -> bool:
    """True when all four MNIST files are in the cache with the right MD5 (no network)."""
    folder = Path(dest) if dest is not None else mnist_dir()
    return all(is_verified(folder / name, md5) for name, md5 in MNIST_FILES.items())


# --------------------------------------------------------------------------- downloading

def _ensure_writable(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-test-"):
            pass
    except OSError as e:
        raise DataDirError(folder, e.strerror or str(e)) from e


def _fetch_one(url: str, target: Path, md5: str, timeout: float, progress: bool) -> None:
    """Download ``url`` to ``target`` via a temp file; rename only once the MD5 matches.

    Raises ``OSError``/``http.client.HTTPException``/``ValueError`` on any failure and then
    leaves nothing behind (neither the temp file nor anything under ``target``'s name).
    """
    from tqdm.auto import tqdm

    with atomic_write(target) as out, urllib.request.urlopen(url, timeout=timeout) as resp:
        length = resp.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        h, got = hashlib.md5(), 0
        with tqdm(total=total, unit="B", unit_scale=True, desc=target.name,
                  disable=not progress, leave=False) as bar:
            while True:
                block = resp.read(_CHUNK)
                if not block:
                    break
                out.write(block)
                h.update(block)
                got += len(block)
                bar.update(len(block))
        # raising inside the block discards the temporary file: target is never written
        if total is not None and got != total:
            raise ValueError(f"truncated: received {got:,} of {total:,} bytes")
        if h.hexdigest() != md5:
            raise ValueError(f"MD5 mismatch: expected {md5}, got {h.hexdigest()} "
                             f"({got:,} bytes); the file is corrupt or not the MNIST file")


def _describe_failure(e: BaseException) -> tuple[str, bool]:
    """A one-line reason, and whether it looks like having no network at all."""
    if isinstance(e, urllib.error.HTTPError):
        return f"HTTP {e.code} {e.reason}", False
    if isinstance(e, http.client.IncompleteRead):
        return f"truncated: connection closed after {len(e.partial):,} bytes", False
    reason = e.reason if isinstance(e, urllib.error.URLError) else e
    if isinstance(reason, (TimeoutError, socket.timeout)):
        return "timed out", False
    if isinstance(reason, socket.gaierror):
        return f"cannot resolve host ({reason})", True
    if isinstance(e, urllib.error.URLError) and isinstance(reason, OSError):
        return f"cannot connect ({reason})", True
    return f"{type(e).__name__}: {e}", False


def download_mnist(dest: str | Path | None = None, mirrors: list[str] | None = None,
                   timeout: float = 30, progress: bool = True) -> Path:
    """Fetch the four MNIST ``.gz`` files into ``dest`` (default :func:`mnist_dir`).

    Files already there with the right MD5 are kept (not downloaded again). Each missing
    file is tried on every mirror in turn (``mirrors``, default :func:`mnist_mirrors`); a
    mirror fails on an HTTP error, a timeout, a truncated body or an MD5 mismatch.
    Returns the folder. Raises :class:`DownloadError` (listing each mirror's failure) when
    every mirror fails, :class:`DataDirError` when the folder cannot be written.
    """
    folder = Path(dest).expanduser() if dest is not None else mnist_dir()
    bases = mnist_mirrors() if mirrors is None else \
        [m if m.endswith("/") else m + "/" for m in mirrors]
    todo = {name: md5 for name, md5 in MNIST_FILES.items() if not is_verified(folder / name, md5)}
    if not todo:
        return folder
    if not bases:
        raise DownloadError(next(iter(todo)), [("(none)", "no mirror is configured")], False)
    _ensure_writable(folder)
    for name, md5 in todo.items():
        failures: list[tuple[str, str]] = []
        offline = True
        for base in bases:
            url = base + name
            try:
                _fetch_one(url, folder / name, md5, timeout, progress)
                break
            except (OSError, http.client.HTTPException, ValueError) as e:
                why, no_net = _describe_failure(e)
                failures.append((url, why))
                offline = offline and no_net
        else:
            raise DownloadError(name, failures, offline and bool(failures))
    return folder


# --------------------------------------------------------------------------- reading IDX

def read_idx(path: str | Path, expected_magic: int | None = None) -> np.ndarray:
    """Read an IDX file (gzipped or raw) into a uint8 array.

    Layout: two zero bytes, a type byte (0x08 = unsigned byte, the only type MNIST uses),
    a byte ``ndim``, then ``ndim`` big-endian uint32 sizes, then the data in C order. The
    first four bytes read as one big-endian integer are the "magic number": 0x00000803 for
    MNIST images (N, 28, 28), 0x00000801 for labels (N,).
    """
    path = Path(path)
    try:
        with open(path, "rb") as f:
            head = f.read(2)
        opener = gzip.open if head == b"\x1f\x8b" else open
        with opener(path, "rb") as f:
            raw = f.read()
    except EOFError as e:
        raise IDXError(f"{path}: the gzip stream ends early (truncated download?); "
                       "delete the file and download it again.") from e
    except (OSError, gzip.BadGzipFile) as e:
        raise IDXError(f"{path}: cannot read it ({e}).") from e
    if len(raw) < 4:
        raise IDXError(f"{path}: only {len(raw)} bytes, too short for an IDX header.")
    if raw[0] != 0 or raw[1] != 0:
        raise IDXError(f"{path}: not an IDX file (the first two bytes must be zero).")
    if raw[2] != 0x08:
        raise IDXError(f"{path}: IDX type byte is 0x{raw[2]:02x}; only 0x08 (uint8) is supported.")
    magic = int.from_bytes(raw[:4], "big")
    if expected_magic is not None and magic != expected_magic:
        raise IDXError(f"{path}: magic number 0x{magic:08x}, expected 0x{expected_magic:08x} "
                       "(images are 0x00000803, labels 0x00000801): wrong file?")
    ndim = raw[3]
    start = 4 + 4 * ndim
    if ndim == 0:
        raise IDXError(f"{path}: header says 0 dimensions; an IDX file has at least one.")
    if len(raw) < start:
        raise IDXError(f"{path}: header says {ndim} dimensions but the file is too short "
                       "to hold their sizes.")
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    want = int(np.prod(shape))
    have = len(raw) - start
    if have < want:
        raise IDXError(f"{path}: truncated: header shape {shape} needs {want:,} bytes of "
                       f"data, the file has {have:,}. Delete it and download it again.")
    if have > want:
        raise IDXError(f"{path}: {have - want:,} bytes after the data of shape {shape}; "
                       "the file is not a clean IDX file.")
    return np.frombuffer(raw, dtype=np.uint8, offset=start).reshape(shape).copy()


# --------------------------------------------------------------------------- loading

def to_float(x_uint8: np.ndarray) -> torch.Tensor:
    """uint8 images (N, 28, 28) -> float32 tensor (N, 1, 28, 28) in [-1, 1]: v / 127.5 - 1."""
    x = torch.from_numpy(np.ascontiguousarray(x_uint8, dtype=np.uint8))
    # in place: full MNIST's train images are 188 MB as float32; avoid two more copies
    return x.to(torch.float32).div_(127.5).sub_(1.0).unsqueeze(1)


def to_uint8(x) -> np.ndarray:
    """Images in [-1, 1] (any leading shape ending in 28x28) -> uint8 (N, 28, 28), 0 = background.

    ``v = round((x + 1) * 127.5)`` clipped to 0..255: the exact inverse of the loader's
    scaling, so ``to_uint8(load_mnist().x_train)`` gives back the original bytes.
    """
    if isinstance(x, torch.Tensor):
        x = x.detach().to("cpu", torch.float32).numpy()
    x = np.asarray(x, dtype=np.float32)
    if x.ndim < 2:
        raise ValueError(f"expected images whose last two dims are height and width, got shape "
                         f"{x.shape}")
    v = np.rint((x + 1.0) * 127.5)
    return np.clip(v, 0, 255).astype(np.uint8).reshape(-1, *x.shape[-2:])


@dataclass(repr=False, eq=False)
class MNIST:
    """MNIST as tensors. Images float32 in [-1, 1], shape (N, 1, 28, 28); labels int64 (N,).

    The tensors are shared between calls of :func:`load_mnist` (cached in-process):
    ``.clone()`` them before changing them in place.
    """

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    source: str  # "full" (official 60k/10k split) or "subset" (bundled, 8k/2k)

    def describe(self) -> str:
        what = "full set, official split" if self.source == "full" else \
            "bundled subset, shuffled with seed 0"
        held = "test" if self.source == "full" else "held-out"
        return (f"MNIST ({what}): {len(self.x_train):,} train / {len(self.x_test):,} {held}, "
                f"images {tuple(self.x_train.shape[1:])} float32 in [-1, 1], labels int64")

    __repr__ = describe
    __str__ = describe


@functools.lru_cache(maxsize=1)
def bundled_subset() -> tuple[np.ndarray, np.ndarray]:
    """The shipped 10,000 MNIST digits: x uint8 (10000, 28, 28), y int64, ordered by digit.

    The arrays are read-only (they are cached); copy them before changing them.
    """
    if not SUBSET_PATH.is_file():
        raise FileNotFoundError(f"the bundled MNIST subset {SUBSET_PATH} is missing; "
                                "reinstall the package (pip install --no-deps -e .).")
    with np.load(SUBSET_PATH) as f:
        x, y = f["x"].astype(np.uint8), f["y"].astype(np.int64)
    x.flags.writeable = False
    y.flags.writeable = False
    return x, y


def subset_split() -> tuple[np.ndarray, np.ndarray]:
    """Indices into :func:`bundled_subset`: (train 8,000, held-out 2,000), seed-0 shuffle."""
    n = len(bundled_subset()[1])
    perm = np.random.default_rng(SUBSET_SEED).permutation(n)
    return perm[:SUBSET_TRAIN], perm[SUBSET_TRAIN:]


@functools.lru_cache(maxsize=1)
def _subset_mnist() -> MNIST:
    x, y = bundled_subset()
    tr, te = subset_split()
    return MNIST(to_float(x[tr]), torch.from_numpy(y[tr].copy()),
                 to_float(x[te]), torch.from_numpy(y[te].copy()), "subset")


@functools.lru_cache(maxsize=2)
def _full_mnist(folder: str) -> MNIST:
    f = Path(folder)
    parts = {}
    for key, name in MNIST_PARTS.items():
        magic = IMAGES_MAGIC if key.startswith("x") else LABELS_MAGIC
        parts[key] = read_idx(f / name, expected_magic=magic)
    for split in ("train", "test"):
        if len(parts[f"x_{split}"]) != len(parts[f"y_{split}"]):
            raise IDXError(f"{folder}: {split} images and labels differ in number "
                           f"({len(parts[f'x_{split}'])} vs {len(parts[f'y_{split}'])}).")
    return MNIST(to_float(parts["x_train"]), torch.from_numpy(parts["y_train"].astype(np.int64)),
                 to_float(parts["x_test"]), torch.from_numpy(parts["y_test"].astype(np.int64)),
                 "full")


_fallback_said = False
_failed: dict[str, MNISTUnavailable] = {}  # folder -> why "auto" gave up on it this process


def _say_fallback(reason: str) -> None:
    global _fallback_said
    if not _fallback_said:
        _fallback_said = True
        n_train = SUBSET_TRAIN
        n_held = len(bundled_subset()[1]) - SUBSET_TRAIN
        print(f"MNIST: full set not available ({reason}); using the bundled 10,000-digit subset "
              f"({n_train:,} train / {n_held:,} held-out). "
              "`python -m gan_course download` fetches the full set when you are online.")


def load_mnist(source: str = "auto", download: bool = True) -> MNIST:
    """Load MNIST as an :class:`MNIST` of tensors (images in [-1, 1], (N, 1, 28, 28)).

    - ``"full"``: the official 60,000/10,000 split, from the cache, downloading it first if
      needed and ``download`` is true; raises :class:`MNISTUnavailable` if it cannot.
    - ``"subset"``: the bundled 10,000 digits, 8,000 train / 2,000 held-out; never touches
      the network.
    - ``"auto"``: the full set if it is cached and verified or can be downloaded, else the
      subset, saying so once per process. A failed download is not retried in the same
      process (so a notebook calling this twice offline does not wait twice).

    Results are cached in-process, so a second call is instant and returns the same tensors.
    """
    if source not in ("auto", "full", "subset"):
        raise ValueError(f"source must be 'auto', 'full' or 'subset', got {source!r}")
    if source == "subset":
        return _subset_mnist()
    folder = mnist_dir()
    key = str(folder.resolve())
    if source == "auto" and key in _failed and not cached_full_mnist(folder):
        _say_fallback(_failed[key].short)
        return _subset_mnist()
    try:
        if not cached_full_mnist(folder):
            if not download:
                raise MNISTUnavailable(
                    f"full MNIST is not in {folder} and download=False; run "
                    "`python -m gan_course download` or call load_mnist(download=True).")
            download_mnist(folder, timeout=DOWNLOAD_TIMEOUT)
        return _full_mnist(key)
    except MNISTUnavailable as e:
        if source == "full":
            raise
        _failed[key] = e
        _say_fallback(e.short)
        return _subset_mnist()
