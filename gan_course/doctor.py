"""``python -m gan_course doctor`` (``make doctor``): is this machine ready for the course?

Prints one checklist line per item, marked ``ok``, ``warn`` (works, but differs from what
the course was tested with) or ``FAIL`` (something the notebooks need is missing), then a
verdict. Returns 0 when nothing needed is missing, else 1 with what to install.

It never touches the network: "full MNIST cached" means the four files are in the cache
with the right MD5, nothing more.

Paths are printed as a reader can read them on any machine (notebook 00 stores this
output): relative to the course's folder for files inside it, ``~/...`` under the home
folder, else in full.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

MIN_PYTHON = (3, 11)

# Distribution names the notebooks cannot run without, then those only some uses need
# (the JupyterLab server may live in another environment, e.g. on a JupyterHub; nbval and
# nbclient are for `make test` and `make notebooks`).
REQUIRED = ("torch", "numpy", "matplotlib", "tqdm", "ipywidgets", "ipykernel")
OPTIONAL = ("jupyterlab", "nbclient", "nbval")

OK, WARN, FAIL = "ok", "warn", "FAIL"

# The checkout this package sits in, when it is one (an editable install; not site-packages).
_ROOT = Path(__file__).resolve().parent.parent
COURSE_DIR: Path | None = _ROOT if (_ROOT / "pyproject.toml").is_file() else None


def readable_path(path, course_dir: Path | None = None, home: Path | None = None) -> str:
    """``path`` relative to ``course_dir`` (default :data:`COURSE_DIR`) when it lies inside
    it, else ``~/...`` when it lies under ``home`` (default: this user's home folder), else
    as given. The doctor's output then reads the same on every machine."""
    path = Path(path)
    course_dir = COURSE_DIR if course_dir is None else course_dir
    if home is None:
        try:
            home = Path.home()
        except RuntimeError:  # no home folder known (no $HOME, no passwd entry)
            home = None
    # as written (a venv's python is a link: keep its name), then with links resolved
    for absolute in (Path(os.path.abspath(path)), path.resolve()):
        if course_dir is not None and absolute.is_relative_to(course_dir):
            return absolute.relative_to(course_dir).as_posix()
        if home is not None and absolute.is_relative_to(home) and absolute != home:
            return "~/" + absolute.relative_to(home).as_posix()
    return str(path)


def installed_version(dist: str) -> str | None:
    """The installed version of distribution ``dist``, or None when it is not installed."""
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def find_requirements() -> Path | None:
    """requirements.txt of the repository this package sits in, else of the current folder."""
    for folder in (Path(__file__).resolve().parent.parent, Path.cwd()):
        path = folder / "requirements.txt"
        if path.is_file():
            return path
    return None


def read_pins(path: Path) -> dict[str, str]:
    """``name==version`` lines of a requirements file, as {lower-case name: version}."""
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            pins[name.strip().lower()] = version.strip()
    return pins


def _public(version: str) -> str:
    """Drop a local build tag: torch's "2.13.0+cpu" is release 2.13.0."""
    return version.split("+", 1)[0]


class Report:
    def __init__(self):
        self.failed: list[str] = []  # what to do, one entry per FAIL
        self.warned = 0

    def line(self, status: str, what: str, detail: str = "", todo: str = "") -> None:
        mark = {OK: "  ok  ", WARN: " warn ", FAIL: " FAIL "}[status]
        print(f"[{mark}] {what}" + (f": {detail}" if detail else ""))
        if status == FAIL:
            self.failed.append(todo or what)
        elif status == WARN:
            self.warned += 1


def check_python(r: Report) -> None:
    v = sys.version_info
    text = f"{platform.python_version()} ({readable_path(sys.executable)})"
    if (v.major, v.minor) >= MIN_PYTHON:
        r.line(OK, "Python", text)
    else:
        need = ".".join(map(str, MIN_PYTHON))
        r.line(FAIL, "Python", f"{text}; the course needs {need} or newer",
               todo=f"a Python {need}+ environment (see README: pip or conda path)")


def check_packages(r: Report) -> bool:
    """One line per package; returns whether torch is importable (later checks need it)."""
    req = find_requirements()
    pins = read_pins(req) if req else {}
    if req is None:
        print("       (no requirements.txt found next to the package: versions not compared)")
    for dist in REQUIRED + OPTIONAL:
        version = installed_version(dist)
        pin = pins.get(dist)
        if version is None:
            if dist in REQUIRED:
                r.line(FAIL, dist, "not installed", todo=f"{dist}" + (f"=={pin}" if pin else ""))
            else:
                r.line(WARN, dist, "not installed (needed for `make lab` / `make test` only)")
        elif pin and _public(version) != pin:
            r.line(WARN, dist, f"{version}, but requirements.txt pins {pin} "
                   "(may work; the course is tested with the pin)")
        else:
            r.line(OK, dist, version + (" (matches requirements.txt)" if pin else ""))
    return installed_version("torch") is not None and importlib.util.find_spec("torch") is not None


def nvidia_gpu_present() -> bool:
    """Whether ``nvidia-smi -L`` lists a GPU (the NVIDIA driver is installed and sees one)."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return False
    try:
        out = subprocess.run([exe, "-L"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.returncode == 0 and "GPU" in out.stdout


def torch_build() -> str:
    """What the installed torch was built for: "CUDA 12.8", "ROCm 6.2", "CPU + Apple MPS" or
    "CPU-only" (PyPI's Linux x86_64 wheel is a CUDA build; PyTorch's CPU index has "+cpu")."""
    import torch

    if torch.version.cuda:
        return f"CUDA {torch.version.cuda}"
    if getattr(torch.version, "hip", None):
        return f"ROCm {torch.version.hip}"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_built():
        return "CPU + Apple MPS"
    return "CPU-only"


def check_torch_build(r: Report, device_type: str) -> None:
    import torch

    build = torch_build()
    text = f"{build} ({torch.__version__})"
    if build.startswith("CUDA") and device_type != "cuda":
        r.line(WARN, "torch build", f"{text}, but no CUDA GPU is visible: its CUDA libraries "
               "(several GB) go unused; `rm -rf .venv && make install` installs the "
               "CPU-only build on Linux")
    elif build == "CPU-only" and nvidia_gpu_present():
        r.line(WARN, "torch build", f"{text}, but this machine has an NVIDIA GPU "
               "(nvidia-smi): `rm -rf .venv && make install TORCH_INDEX=pypi` installs the "
               "CUDA build")
    else:
        r.line(OK, "torch build", text)


def check_device(r: Report) -> None:
    import torch

    from gan_course.runtime import apply_thread_setting, pick_device

    dev = pick_device()
    threads = apply_thread_setting()
    check_torch_build(r, dev.type)
    if dev.type == "cuda":
        r.line(OK, "device", f"cuda ({torch.cuda.get_device_name(dev)}), "
               f"torch built with CUDA {torch.version.cuda}")
    elif dev.type == "mps":
        r.line(OK, "device", "mps (Apple GPU)")
    else:
        r.line(OK, "device", "cpu (no GPU found; full mode is sized to run on a CPU)")
    r.line(OK, "torch threads", f"{threads} (os.cpu_count() = {os.cpu_count()}; "
           "set GAN_COURSE_THREADS to change)")


def check_mode(r: Report) -> None:
    from gan_course.runtime import QUICK_ENV, is_quick

    if is_quick():
        r.line(OK, "mode", f"quick ({QUICK_ENV}=1: training runs are shrunk for smoke tests)")
    else:
        r.line(OK, "mode", f"full (the course as written; {QUICK_ENV}=1 for quick smoke runs)")


def check_data(r: Report) -> None:
    from gan_course import data

    folder = data.data_dir()
    origin = f"${data.DATA_ENV}" if os.environ.get(data.DATA_ENV, "").strip() else "default"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".doctor-"):
            pass
        r.line(OK, "data folder", f"{readable_path(folder)} ({origin}, writable)")
    except OSError as e:
        r.line(WARN, "data folder", f"{readable_path(folder)} ({origin}) is not writable ({e.strerror or e}); "
               f"set {data.DATA_ENV} to a folder you can write to")
    mnist = data.mnist_dir()
    if data.cached_full_mnist(mnist):
        r.line(OK, "full MNIST", f"cached and MD5-verified in {readable_path(mnist)}")
    else:
        r.line(OK, "full MNIST", "not cached yet: load_mnist() downloads it when online "
               "(or run `python -m gan_course download`), else uses the bundled subset")
    if data.SUBSET_PATH.is_file():
        x, y = data.bundled_subset()
        r.line(OK, "bundled subset", f"{len(y):,} digits ({data.SUBSET_PATH.name}), "
               "the offline fallback")
    else:
        r.line(FAIL, "bundled subset", f"{readable_path(data.SUBSET_PATH)} is missing",
               todo="the package's data files: reinstall with `pip install --no-deps -e .` "
                    "from a full checkout")


def check_widgets(r: Report) -> None:
    if importlib.util.find_spec("jupyterlab_widgets") is not None:
        r.line(OK, "widgets", f"jupyterlab_widgets {installed_version('jupyterlab_widgets')} "
               "(sliders render in JupyterLab)")
    else:
        r.line(WARN, "widgets", "jupyterlab_widgets is not importable: sliders will show as "
               "text; `pip install ipywidgets` brings it (the static figures still show)")


def run_doctor() -> int:
    """Print the checklist; return 0 if everything needed is present, else 1."""
    r = Report()
    where = " (paths in the course's folder are relative to it)" if COURSE_DIR else ""
    print(f"gan-course doctor{where}\n")
    check_python(r)
    has_torch = check_packages(r)
    if has_torch:
        check_device(r)
    else:
        print("       (device and data checks skipped: they need torch)")
    check_mode(r)
    if has_torch:
        check_data(r)
    check_widgets(r)
    print()
    if r.failed:
        print("Not ready. Missing: " + "; ".join(r.failed) + ".")
        print("Install the pinned environment with `make install` (pip, into .venv) or "
              "`pip install -r requirements.txt`; conda users: "
              "`conda env create -f environment.yml`.")
        return 1
    note = f" ({r.warned} warning{'s' if r.warned != 1 else ''} above)" if r.warned else ""
    print(f"Ready: everything the notebooks need is present{note}.")
    return 0
