"""gan_course.data against a local HTTP server (127.0.0.1, never the outside network).

The server serves tiny IDX files written here (20 train / 10 test digits); their MD5s are
swapped into ``data.MNIST_FILES`` so the real download code runs end to end: mirrors in
order, MD5 check, truncation, HTTP errors, timeouts, atomic rename, offline fallback.
"""

from __future__ import annotations

import gzip
import hashlib
import http.server
import os
import threading
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch

from gan_course import data


# --------------------------------------------------------------------------- tiny IDX files

def idx_bytes(array: np.ndarray) -> bytes:
    """Reference IDX writer: 0, 0, type 0x08, ndim, big-endian uint32 sizes, C-order bytes."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        int(n).to_bytes(4, "big") for n in array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


RNG = np.random.default_rng(123)
TINY = {
    "x_train": RNG.integers(0, 256, size=(20, 28, 28), dtype=np.uint8),
    "y_train": (np.arange(20) % 10).astype(np.uint8),
    "x_test": RNG.integers(0, 256, size=(10, 28, 28), dtype=np.uint8),
    "y_test": (np.arange(10)[::-1] % 10).astype(np.uint8),
}
FILES = {data.MNIST_PARTS[k]: gzip.compress(idx_bytes(v), mtime=0) for k, v in TINY.items()}
MD5S = {name: hashlib.md5(blob).hexdigest() for name, blob in FILES.items()}


# --------------------------------------------------------------------------- the local server

class Server:
    """Routes ``/<mirror>/<file>`` to a behaviour: ok, corrupt, 404, truncated or slow."""

    def __init__(self):
        self.requests: list[str] = []
        self.behaviour: dict[str, str] = {}  # mirror name -> behaviour (default "ok")
        self.release = threading.Event()  # lets "slow" handlers finish at teardown
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep pytest output clean
                pass

            def do_GET(self):
                owner.requests.append(self.path)
                _, mirror, name = self.path.split("/", 2)
                how = owner.behaviour.get(mirror, "ok")
                body = FILES.get(name)
                if how == "404" or body is None:
                    self.send_error(404)
                    return
                if how == "slow":
                    owner.release.wait(5)
                    return
                if how == "corrupt":
                    body = body[:-1] + bytes([body[-1] ^ 0xFF])
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if how == "truncated":
                    body = body[: len(body) // 2]
                    self.close_connection = True
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,),
                                       daemon=True)
        self.thread.start()

    def url(self, mirror: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/{mirror}/"

    def close(self):
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = Server()
    yield s
    s.close()


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    """Every test: its own cache folder, the tiny MD5 table, no real mirror, fresh state."""
    monkeypatch.setenv(data.DATA_ENV, str(tmp_path / "cache"))
    monkeypatch.delenv(data.MIRRORS_ENV, raising=False)
    monkeypatch.setattr(data, "MNIST_FILES", dict(MD5S))
    monkeypatch.setattr(data, "MNIST_MIRRORS", [])
    monkeypatch.setattr(data, "_fallback_said", False)
    monkeypatch.setattr(data, "_failed", {})
    monkeypatch.setattr(data, "_md5_memo", {})
    data._full_mnist.cache_clear()
    yield
    data._full_mnist.cache_clear()


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


# --------------------------------------------------------------------------- downloading

def test_download_verifies_and_reuses_the_cache(server, tmp_path):
    dest = tmp_path / "mnist"
    out = data.download_mnist(dest, mirrors=[server.url("m")], progress=False)
    assert out == dest
    assert leftovers(dest) == sorted(FILES)  # nothing else (no .part files)
    umask = os.umask(0)
    os.umask(umask)
    assert (dest / next(iter(FILES))).stat().st_mode & 0o777 == 0o666 & ~umask
    for name, blob in FILES.items():
        assert (dest / name).read_bytes() == blob
    assert len(server.requests) == 4
    data.download_mnist(dest, mirrors=[server.url("m")], progress=False)
    assert len(server.requests) == 4, "verified cached files must not be downloaded again"
    assert data.cached_full_mnist(dest)


def test_load_full_reads_the_downloaded_files(server, monkeypatch):
    monkeypatch.setattr(data, "MNIST_MIRRORS", [server.url("m")])
    m = data.load_mnist("full")
    assert m.source == "full"
    assert m.x_train.shape == (20, 1, 28, 28) and m.x_train.dtype == torch.float32
    assert m.y_train.dtype == torch.int64 and m.y_test.shape == (10,)
    assert np.array_equal(data.to_uint8(m.x_train), TINY["x_train"])
    assert np.array_equal(data.to_uint8(m.x_test), TINY["x_test"])
    assert m.y_test.tolist() == TINY["y_test"].tolist()
    # the scaling: byte 0 (background) -> -1, 255 (ink) -> +1, v -> v / 127.5 - 1
    want = torch.from_numpy(TINY["x_train"]).float().unsqueeze(1) / 127.5 - 1
    assert torch.allclose(m.x_train, want)
    assert data.load_mnist("full") is m, "the second call must come from the in-process cache"
    assert "20 train / 10 test" in m.describe() and "full" in repr(m)


def test_corrupt_file_is_rejected_and_the_next_mirror_tried(server, tmp_path):
    server.behaviour["bad"] = "corrupt"
    dest = tmp_path / "mnist"
    data.download_mnist(dest, mirrors=[server.url("bad"), server.url("good")], progress=False)
    assert data.cached_full_mnist(dest)
    first = [p.split("/")[1] for p in server.requests[:2]]
    assert first == ["bad", "good"]


def test_corrupt_everywhere_leaves_no_file(server, tmp_path):
    server.behaviour["bad"] = "corrupt"
    dest = tmp_path / "mnist"
    with pytest.raises(data.DownloadError, match="MD5 mismatch") as err:
        data.download_mnist(dest, mirrors=[server.url("bad")], progress=False)
    assert leftovers(dest) == []
    assert err.value.offline is False


def test_truncated_body_is_rejected(server, tmp_path):
    server.behaviour["cut"] = "truncated"
    dest = tmp_path / "mnist"
    with pytest.raises(data.DownloadError, match="truncated") as err:
        data.download_mnist(dest, mirrors=[server.url("cut")], progress=False)
    assert leftovers(dest) == []
    assert len(err.value.failures) == 1


def test_http_404_on_every_mirror_names_each_mirror(server, tmp_path):
    server.behaviour.update(a="404", b="404")
    with pytest.raises(data.DownloadError) as err:
        data.download_mnist(tmp_path / "mnist", mirrors=[server.url("a"), server.url("b")],
                            progress=False)
    text = str(err.value)
    assert server.url("a") in text and server.url("b") in text
    assert text.count("HTTP 404") == 2
    assert data.MIRRORS_ENV in text, "the error must say what to do"
    assert leftovers(tmp_path / "mnist") == []


def test_timeout_everywhere_then_auto_falls_back_once(server, monkeypatch, capsys):
    server.behaviour.update(s1="slow", s2="slow")
    monkeypatch.setattr(data, "MNIST_MIRRORS", [server.url("s1"), server.url("s2")])
    with pytest.raises(data.DownloadError, match="timed out"):
        data.download_mnist(mirrors=None, timeout=0.2, progress=False)
    assert leftovers(data.mnist_dir()) == []

    monkeypatch.setattr(data, "DOWNLOAD_TIMEOUT", 0.2)
    n_before = len(server.requests)
    m = data.load_mnist("auto")
    assert m.source == "subset" and len(m.x_train) == 8000 and len(m.x_test) == 2000
    assert len(server.requests) == n_before + 2  # one file, both mirrors, then gave up
    again = data.load_mnist("auto")
    assert again is m
    assert len(server.requests) == n_before + 2, "a failed download is not retried"
    out = capsys.readouterr().out
    assert out.count("MNIST: full set not available") == 1, out
    assert "using the bundled 10,000-digit subset (8,000 train / 2,000 held-out)" in out
    with pytest.raises(data.MNISTUnavailable):
        data.load_mnist("full")


def test_auto_uses_a_verified_cache_without_network(server, monkeypatch, capsys):
    data.download_mnist(mirrors=[server.url("m")], progress=False)

    def no_network(*a, **k):
        raise AssertionError("load_mnist must not download a verified cached set")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    assert data.load_mnist("auto").source == "full"
    assert capsys.readouterr().out == ""


def test_a_corrupt_cached_file_is_downloaded_again(server, tmp_path):
    dest = tmp_path / "mnist"
    data.download_mnist(dest, mirrors=[server.url("m")], progress=False)
    victim = dest / data.MNIST_PARTS["y_test"]
    victim.write_bytes(b"garbage")
    assert not data.cached_full_mnist(dest)
    data.download_mnist(dest, mirrors=[server.url("m")], progress=False)
    assert server.requests[-1].endswith(victim.name) and len(server.requests) == 5
    assert data.cached_full_mnist(dest)


def test_unwritable_cache_folder_gives_a_clear_error(tmp_path, monkeypatch, capsys, server):
    blocker = tmp_path / "a_file"
    blocker.write_text("a regular file: nothing can be created under it, even as root")
    with pytest.raises(data.DataDirError) as err:
        data.download_mnist(blocker / "sub", mirrors=[server.url("m")], progress=False)
    assert str(blocker / "sub") in str(err.value) and data.DATA_ENV in str(err.value)
    assert server.requests == [], "nothing is downloaded when it could not be saved"

    monkeypatch.setenv(data.DATA_ENV, str(blocker / "sub"))
    monkeypatch.setattr(data, "MNIST_MIRRORS", [server.url("m")])
    assert data.load_mnist("auto").source == "subset"
    assert "cache folder not writable" in capsys.readouterr().out


def test_env_mirrors_are_tried_first_in_order(server, monkeypatch, tmp_path):
    server.behaviour["e1"] = "404"
    monkeypatch.setattr(data, "MNIST_MIRRORS", [server.url("default")])
    monkeypatch.setenv(data.MIRRORS_ENV, f" {server.url('e1')} ,{server.url('e2')[:-1]},")
    assert data.mnist_mirrors() == [server.url("e1"), server.url("e2"), server.url("default")]
    data.download_mnist(tmp_path / "mnist", progress=False)
    mirrors_hit = [p.split("/")[1] for p in server.requests]
    assert mirrors_hit[:2] == ["e1", "e2"]
    assert "default" not in mirrors_hit


def test_no_mirror_at_all_is_a_clear_error(tmp_path):
    with pytest.raises(data.DownloadError, match="no mirror is configured"):
        data.download_mnist(tmp_path / "mnist", mirrors=[], progress=False)


def test_data_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(data.DATA_ENV, str(tmp_path / "x"))
    assert data.data_dir() == tmp_path / "x" and data.mnist_dir() == tmp_path / "x" / "mnist"
    monkeypatch.delenv(data.DATA_ENV)
    assert data.data_dir() == Path.home() / ".cache" / "gan_course"


# --------------------------------------------------------------------------- read_idx

def test_read_idx_gz_and_raw_agree(tmp_path):
    raw = tmp_path / "x.idx"
    raw.write_bytes(idx_bytes(TINY["x_test"]))
    gz = tmp_path / "x.idx.gz"
    gz.write_bytes(gzip.compress(raw.read_bytes()))
    a = data.read_idx(raw, expected_magic=data.IMAGES_MAGIC)
    b = data.read_idx(gz, expected_magic=data.IMAGES_MAGIC)
    assert a.dtype == np.uint8 and a.shape == (10, 28, 28)
    assert np.array_equal(a, TINY["x_test"]) and np.array_equal(b, a)


@pytest.mark.parametrize("mutate, magic, message", [
    (lambda b: b, data.IMAGES_MAGIC, "magic number 0x00000801, expected 0x00000803"),
    (lambda b: b"\x01" + b[1:], None, "first two bytes must be zero"),
    (lambda b: b[:2] + b"\x0d" + b[3:], None, "type byte is 0x0d"),
    (lambda b: b[:-3], data.LABELS_MAGIC, "truncated: header shape \\(20,\\) needs 20"),
    (lambda b: b + b"\x00", data.LABELS_MAGIC, "1 bytes after the data"),
    (lambda b: b[:2], None, "too short"),
    (lambda b: b[:6], None, "too short"),  # header cut inside the size field
    (lambda b: b[:3] + b"\x00", None, "0 dimensions"),
])
def test_read_idx_rejects_bad_files(tmp_path, mutate, magic, message):
    path = tmp_path / "labels.idx"
    path.write_bytes(mutate(idx_bytes(TINY["y_train"])))
    with pytest.raises(data.IDXError, match=message):
        data.read_idx(path, expected_magic=magic)


def test_read_idx_truncated_gzip(tmp_path):
    blob = gzip.compress(idx_bytes(TINY["x_train"]))
    path = tmp_path / "x.gz"
    path.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(data.IDXError, match="truncated"):
        data.read_idx(path)


# --------------------------------------------------------------------------- the subset

def test_subset_split_is_fixed_disjoint_and_complete(monkeypatch):
    def no_network(*a, **k):
        raise AssertionError("source='subset' must never touch the network")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    x, y = data.bundled_subset()
    assert x.shape == (10000, 28, 28) and x.dtype == np.uint8 and y.dtype == np.int64
    train, held = data.subset_split()
    assert len(train) == 8000 and len(held) == 2000
    assert set(train).isdisjoint(held) and len(set(train) | set(held)) == 10000
    ref = np.random.default_rng(0).permutation(10000)
    assert np.array_equal(train, ref[:8000]) and np.array_equal(held, ref[8000:])

    m = data.load_mnist("subset")
    assert m.source == "subset"
    assert m.x_train.shape == (8000, 1, 28, 28) and m.x_test.shape == (2000, 1, 28, 28)
    assert m.y_train.dtype == torch.int64
    counts = torch.bincount(m.y_train, minlength=10) + torch.bincount(m.y_test, minlength=10)
    assert counts.tolist() == np.bincount(y, minlength=10).tolist()
    assert counts.sum() == 10000
    assert m.x_train.min() == -1 and m.x_train.max() == 1
    # background is the most common pixel and maps to -1
    assert (m.x_train == -1).float().mean() > 0.5
    assert np.array_equal(data.to_uint8(m.x_train), x[train])
    assert np.array_equal(data.to_uint8(m.x_test), x[held])
    assert torch.equal(m.y_test, torch.from_numpy(y[held]))
    assert data.load_mnist("subset") is m


def test_to_uint8_shapes_rounding_and_clipping():
    x = torch.tensor([-1.0, -0.999, 0.0, 0.5, 1.0, 3.0, -7.0]).repeat(4)[:28].expand(2, 28, 28)
    got = data.to_uint8(x)
    want = np.clip(np.rint((x.numpy() + 1) * 127.5), 0, 255).astype(np.uint8)
    assert got.dtype == np.uint8 and got.shape == (2, 28, 28)
    assert np.array_equal(got, want)
    assert np.array_equal(data.to_uint8(x.unsqueeze(1)), got)  # (N, 1, 28, 28) too
    assert got[0, 0, 0] == 0 and got[0, 0, 4] == 255 and got[0, 0, 5] == 255 and got[0, 0, 6] == 0
    every_byte = np.arange(256, dtype=np.uint8).reshape(1, 16, 16)
    assert np.array_equal(data.to_uint8(data.to_float(every_byte)), every_byte)


def test_bad_source_is_a_clear_error():
    with pytest.raises(ValueError, match="'auto', 'full' or 'subset'"):
        data.load_mnist("mnist")


def test_full_without_download_raises_when_not_cached():
    with pytest.raises(data.MNISTUnavailable, match="download=False"):
        data.load_mnist("full", download=False)
    assert not os.path.exists(data.mnist_dir() / data.MNIST_PARTS["x_train"])


def test_cli_download(server, tmp_path, capsys):
    from gan_course.cli import main

    data.MNIST_MIRRORS.append(server.url("m"))  # the list is the test's own (autouse fixture)
    assert main(["download", "--dest", str(tmp_path / "d")]) == 0
    assert f"full MNIST is in {tmp_path / 'd'}" in capsys.readouterr().out
    server.behaviour["m"] = "404"
    assert main(["download", "--dest", str(tmp_path / "e")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: could not download") and "HTTP 404" in err
