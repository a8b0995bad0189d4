"""Execute notebooks top to bottom in place: what `make notebooks` runs.

Stored outputs must come from one top-to-bottom run of this command (execution counts
1, 2, 3, ...), in full mode unless ``--quick`` is given, with widget state stored in the
shape GitHub renders. For each notebook it prints the wall time and the kernel's peak
memory, the two numbers the course's budgets are about (10 minutes, 2 GB).

    python scripts/run_notebooks.py notebooks/01_cnn_layer_math.ipynb [...] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

# What JupyterLab writes into a notebook when ipykernel's python3 kernel starts. Stored as is,
# so that opening a notebook does not mark it changed (and autosave rewrite it).
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


def execute_one(path: Path, quick: bool, timeout: int) -> None:
    """Run one notebook in this process's child kernel; print time and peak memory."""
    import nbformat
    from nbclient import NotebookClient

    os.environ.pop("MPLBACKEND", None)  # Agg would silently drop every figure
    if quick:
        os.environ["GAN_COURSE_QUICK"] = "1"
    else:
        os.environ.pop("GAN_COURSE_QUICK", None)
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}},
                            record_timing=False, store_widget_state=True)
    start = time.perf_counter()
    try:
        client.execute()
    finally:
        seconds = time.perf_counter() - start
        # ru_maxrss of waited-for children: the kernel, now shut down (KiB on Linux).
        peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        nb.metadata["kernelspec"] = dict(KERNELSPEC)
        nbformat.write(nb, path)
        print(json.dumps({"notebook": str(path), "mode": "quick" if quick else "full",
                          "seconds": round(seconds, 1), "kernel_peak_mib": round(peak_mib)}),
              flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--quick", action="store_true", help="quick mode (for trying things)")
    parser.add_argument("--timeout", type=int, default=900, help="seconds per cell (a hung kernel fails instead of waiting)")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        execute_one(args.notebooks[0], args.quick, args.timeout)
        return 0
    failed = []
    for path in args.notebooks:
        # One process per notebook, so the peak memory printed is that notebook's kernel.
        cmd = [sys.executable, __file__, "--one", str(path), "--timeout", str(args.timeout)]
        if subprocess.run(cmd + (["--quick"] if args.quick else [])).returncode:
            failed.append(str(path))
    if failed:
        print("failed (their outputs show the error):", *failed, sep="\n  ", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
