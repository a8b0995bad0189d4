"""A throwaway JupyterLab 4 server for the browser tests.

It serves a *copy* of the repository's notebooks from a temporary folder, so JupyterLab's
autosave (about every 2 minutes, and whenever a kernel changes a notebook's metadata) never
writes over the stored outputs. HOME and every Jupyter folder point into the same temporary
folder, so the tests neither read a developer's own settings, extensions and workspaces nor
leave anything behind. The news toast is turned off: it would otherwise cover cells and ask
the network for news.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
NEWS_SETTINGS = ("@jupyterlab", "apputils-extension", "notification.jupyterlab-settings")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LabServer:
    """``with LabServer() as lab: page.goto(lab.url("lab/tree/notebooks/00_welcome.ipynb"))``.

    The copy keeps the repository's layout (``notebooks/``, and ``solutions/`` beside it, which
    notebooks link to), so ``lab/tree/notebooks/...`` URLs work as they do on Binder. Kernels
    inherit this process's environment plus ``extra_env`` (the tests pass
    ``GAN_COURSE_QUICK=1``); their Python is the one running the tests, where the package is
    installed.
    """

    def __init__(self, extra_env: dict[str, str] | None = None, start_timeout: float = 120.0):
        self.extra_env = dict(extra_env or {})
        self.start_timeout = start_timeout
        self.token = secrets.token_hex(16)
        self.port = free_port()
        self.tmp: Path | None = None
        self.proc: subprocess.Popen | None = None

    @property
    def root(self) -> Path:
        return self.tmp / "root"

    def url(self, path: str = "") -> str:
        sep = "&" if "?" in path else "?"
        return f"http://127.0.0.1:{self.port}/{path.lstrip('/')}{sep}token={self.token}"

    def _copy_course(self) -> None:
        ignore = shutil.ignore_patterns(".ipynb_checkpoints", "runs", "__pycache__")
        for folder in ("notebooks", "solutions"):
            if (REPO / folder).is_dir():
                shutil.copytree(REPO / folder, self.root / folder, ignore=ignore)

    def _environment(self) -> dict[str, str]:
        from gan_course import data

        jupyter = self.tmp / "jupyter"
        env = dict(os.environ)
        # The data cache is the developer's (or CI's) usual one, found before HOME moves:
        # a fresh HOME would mean a fresh MNIST download attempt in every notebook.
        env.setdefault(data.DATA_ENV, str(data.data_dir()))
        env.update({
            "HOME": str(self.tmp / "home"),
            "JUPYTER_CONFIG_DIR": str(jupyter / "config"),
            "JUPYTER_DATA_DIR": str(jupyter / "data"),
            "JUPYTER_RUNTIME_DIR": str(jupyter / "runtime"),
            "JUPYTERLAB_SETTINGS_DIR": str(jupyter / "lab-settings"),
            "JUPYTERLAB_WORKSPACES_DIR": str(jupyter / "lab-workspaces"),
            "JUPYTER_PLATFORM_DIRS": "1",
        })
        env.pop("MPLBACKEND", None)  # Agg would silently drop every figure from the outputs
        env.update(self.extra_env)
        return env

    def start(self) -> "LabServer":
        self.tmp = Path(tempfile.mkdtemp(prefix="gan-course-lab-"))
        self._copy_course()
        env = self._environment()
        (self.tmp / "home").mkdir()
        news = Path(env["JUPYTERLAB_SETTINGS_DIR"]).joinpath(*NEWS_SETTINGS)
        news.parent.mkdir(parents=True)
        news.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))
        cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1",
               f"--port={self.port}", "--ServerApp.port_retries=0",
               f"--IdentityProvider.token={self.token}", f"--ServerApp.root_dir={self.root}",
               "--LabApp.expose_app_in_browser=True"]
        if hasattr(os, "getuid") and os.getuid() == 0:
            cmd.append("--allow-root")  # containers and CI run as root
        self.log_path = self.tmp / "jupyterlab.log"
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(cmd, cwd=self.root, env=env, stdout=log,
                                         stderr=subprocess.STDOUT)
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.stop()
                raise RuntimeError(f"JupyterLab exited with code {self.proc.returncode} while "
                                   f"starting:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.url("api/status"), timeout=2):
                    return self
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.25)
        self.stop()
        raise RuntimeError(f"JupyterLab did not answer on port {self.port} within "
                           f"{self.start_timeout:.0f} s:\n{self.log_tail()}")

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()  # the server shuts its kernels down on SIGTERM
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.tmp is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self) -> "LabServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
