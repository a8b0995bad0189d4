"""Install the pinned torch (requirements.txt) in the build that suits this machine: what
`make install` runs before the rest of requirements.txt.

- Linux without an NVIDIA GPU: the CPU-only build from PyTorch's own wheel index
  https://download.pytorch.org/whl/cpu (its 2.13.0 wheel is 192 MB, against several GB of
  CUDA libraries). If that index cannot be reached, the plain pin from the Python package
  index, which on Linux x86_64 is the CUDA build: it works on a CPU too, it is only bigger.
- Linux with an NVIDIA GPU (``nvidia-smi -L`` lists one): the plain pin, the CUDA build.
- macOS, Windows: the plain pin (CPU; on Apple silicon also the MPS GPU).
- ``--index cpu`` / ``--index pypi`` / ``--index URL`` (``make install TORCH_INDEX=...``):
  PyTorch's CPU index, the plain pin, or that index only (no fallback: you asked for it).

It prints what it installed, read from pip's install report and from torch itself: the
version, the build (CPU-only or CUDA x.y) and the file it came from.

    python scripts/install_torch.py [--index cpu|pypi|URL]
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
# fail fast where the index is unreachable (CI, offline classrooms) instead of retrying
FAST_FAIL = ["--timeout", "15", "--retries", "0"]


def torch_pin(requirements: Path = REPO / "requirements.txt") -> str:
    """The ``torch==X`` line of requirements.txt (the one place the version is written)."""
    for line in requirements.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith("torch=="):
            return line
    raise SystemExit(f"error: {requirements} has no torch==VERSION line")


def plan(system: str, has_nvidia_gpu: bool, index: str | None) -> list[tuple[str, list[str]]]:
    """The installs to try in order, each ``(where, extra pip arguments)``."""
    pypi = ("the Python package index", [])
    cpu = (f"PyTorch's CPU-only index {CPU_INDEX}", ["--index-url", CPU_INDEX] + FAST_FAIL)
    if index == "pypi":
        return [pypi]
    if index == "cpu":
        return [cpu]
    if index:
        return [(f"the index {index}", ["--index-url", index] + FAST_FAIL)]
    if system == "Linux" and not has_nvidia_gpu:
        return [cpu, pypi]
    return [pypi]


def describe_installed(python: str = sys.executable) -> str:
    """'2.13.0+cpu, CPU-only build' / '2.13.0, CUDA 12.8 build': asked of torch itself, in a
    fresh process (this one may have imported an older torch's metadata)."""
    code = (f"import sys; sys.path.insert(0, {str(REPO)!r}); import torch; "
            "from gan_course.doctor import torch_build; "
            "print(f'{torch.__version__}, {torch_build()} build', end='')")
    out = subprocess.run([python, "-c", code], capture_output=True, text=True)
    if out.returncode:
        return f"(torch does not import: {out.stderr.strip().splitlines()[-1:]})"
    return out.stdout


def _source_of_torch(report: Path) -> str:
    try:
        items = json.loads(report.read_text()).get("install", [])
    except (OSError, ValueError):
        return "(pip wrote no install report)"
    for item in items:
        if item.get("metadata", {}).get("name", "").lower() == "torch":
            return item.get("download_info", {}).get("url", "(unknown)")
    return "(already installed)"


def install(attempts, pin: str, run=subprocess.run, log=print) -> tuple[str, str] | None:
    """Try each install in turn; return ``(where, file torch came from)`` of the first that
    works, or None."""
    for i, (where, extra) in enumerate(attempts):
        log(f"installing {pin} from {where} ...", flush=True)
        with tempfile.TemporaryDirectory() as tmp:
            report = Path(tmp) / "report.json"
            # --report (pip >= 22.2; Python 3.11's venv brings 22.3 or newer) says which file
            cmd = [sys.executable, "-m", "pip", "install", "--report", str(report), *extra, pin]
            if run(cmd).returncode == 0:
                return where, _source_of_torch(report)
        if i + 1 < len(attempts):
            log(f"could not install {pin} from {where} (unreachable, or no such build); "
                "trying the next source", flush=True)
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--index", default=None,
                        help="cpu (PyTorch's CPU index), pypi (the plain pin) or an index URL")
    args = parser.parse_args(argv)
    pin = torch_pin()
    version = pin.split("==", 1)[1]
    try:
        installed = importlib.metadata.version("torch")
    except importlib.metadata.PackageNotFoundError:
        installed = None
    if installed and installed.split("+", 1)[0] == version:
        print(f"torch already installed: {describe_installed()}. To change builds: "
              "rm -rf .venv, then make install TORCH_INDEX=cpu (or pypi, or an index URL).")
        return 0
    sys.path.insert(0, str(REPO))  # the package is not installed yet; its doctor is stdlib-only
    from gan_course.doctor import nvidia_gpu_present

    gpu = nvidia_gpu_present()
    attempts = plan(platform.system(), gpu, args.index)
    if not args.index:
        print(f"{platform.system()}, {'an' if gpu else 'no'} NVIDIA GPU found: "
              + ("CPU-only torch, else the plain pin" if len(attempts) > 1 else "the plain pin"))
    done = install(attempts, pin)
    if done is None:
        print(f"error: could not install {pin} from "
              + " nor ".join(where for where, _ in attempts)
              + ". Check the network (or pip's proxy settings), or choose another source: "
                "make install TORCH_INDEX=cpu|pypi|URL.", file=sys.stderr)
        return 1
    where, source = done
    # the file it came from is the truth; `where` is only what pip was asked (pip also uses
    # find-links and extra indexes from its own configuration)
    print(f"installed torch {describe_installed()}, from {source} (asked: {where})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
