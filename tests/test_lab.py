"""`make lab` / `make restore`: the student's copies in my_notebooks/, and a JupyterLab that
serves the repository's root and opens the welcome copy (started for real here)."""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("lab", REPO / "scripts" / "lab.py")
lab = importlib.util.module_from_spec(spec)
spec.loader.exec_module(lab)


def fake_repo(tmp_path: Path) -> Path:
    (tmp_path / "notebooks").mkdir()
    for name in ("00_welcome.ipynb", "05_mlp_gan_mnist.ipynb"):
        (tmp_path / "notebooks" / name).write_text(f'{{"course": "{name}"}}')
    return tmp_path


def test_copies_are_made_once_and_never_overwritten(tmp_path):
    repo = fake_repo(tmp_path)
    made = lab.make_copies(repo)
    assert [p.name for p in made] == ["00_welcome.ipynb", "05_mlp_gan_mnist.ipynb"]
    mine = repo / "my_notebooks" / "05_mlp_gan_mnist.ipynb"
    mine.write_text("my work")
    (repo / "notebooks" / "05_mlp_gan_mnist.ipynb").write_text("the course, updated by git pull")
    (repo / "notebooks" / "06_dcgan_mnist.ipynb").write_text("a new notebook")
    assert [p.name for p in lab.make_copies(repo)] == ["06_dcgan_mnist.ipynb"]
    assert mine.read_text() == "my work"


def test_restore_gives_a_fresh_copy_and_keeps_the_old_one(tmp_path):
    repo = fake_repo(tmp_path)
    lab.make_copies(repo)
    mine = repo / "my_notebooks" / "05_mlp_gan_mnist.ipynb"
    mine.write_text("my work")
    dest, old = lab.restore("5", repo)
    assert dest == mine and mine.read_text() == '{"course": "05_mlp_gan_mnist.ipynb"}'
    assert old.parent == repo / "my_notebooks" / "replaced" and old.read_text() == "my work"
    with pytest.raises(SystemExit, match="no course notebook numbered '42'.*00, 05"):
        lab.restore("42", repo)


def test_copies_sit_where_the_notebooks_relative_paths_still_work():
    # ../solutions, ../gan_course/assets: my_notebooks/ must be a sibling of notebooks/
    assert (REPO / lab.WORK).parent == (REPO / "notebooks").parent
    ignored = subprocess.run(["git", "-C", str(REPO), "check-ignore", "-q",
                              f"{lab.WORK}/00_welcome.ipynb"])
    assert ignored.returncode == 0, "my_notebooks/ must be ignored by git"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as e:
        return e.code
    except urllib.error.URLError:  # not listening (yet)
        return None


def test_jupyter_serves_the_repository_root_and_opens_the_welcome_copy(tmp_path):
    repo = tmp_path / "repo"
    for path in ("notebooks/00_welcome.ipynb", "solutions/nb00_welcome.py",
                 "gan_course/assets/PRETRAINED.md"):
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        (repo / path).write_bytes((REPO / path).read_bytes())
    lab.make_copies(repo)
    port, token = free_port(), "t0ken"
    home = tmp_path / "home"
    env = {**os.environ, "HOME": str(home), "JUPYTER_CONFIG_DIR": str(home / "config"),
           "JUPYTER_RUNTIME_DIR": str(home / "runtime"), "JUPYTER_DATA_DIR": str(home / "data")}
    extra = ["--no-browser", "--ip=127.0.0.1", f"--port={port}", "--ServerApp.port_retries=0",
             f"--IdentityProvider.token={token}"] + (["--allow-root"] if os.geteuid() == 0 else [])
    log = tmp_path / "lab.log"
    with open(log, "w") as out:
        server = subprocess.Popen(lab.lab_argv(repo, extra), env=env, stdout=out,
                                  stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(240):  # until it answers, or at most 2 minutes
            if server.poll() is not None or get(f"{base}/api/status?token={token}") == 200:
                break
            time.sleep(0.5)
        assert get(f"{base}/api/status?token={token}") == 200, log.read_text()
        for path in ("solutions/nb00_welcome.py", "gan_course/assets/PRETRAINED.md",
                     "my_notebooks/00_welcome.ipynb", "notebooks/00_welcome.ipynb"):
            assert get(f"{base}/api/contents/{path}?token={token}") == 200, path
        assert get(f"{base}/lab/tree/my_notebooks/00_welcome.ipynb?token={token}") == 200
        # the URL it prints, to paste into a browser (through an SSH tunnel, say)
        assert "/lab/tree/my_notebooks/00_welcome.ipynb?token=" in log.read_text()
    finally:
        server.terminate()
        server.wait(timeout=30)
