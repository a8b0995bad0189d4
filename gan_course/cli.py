"""The command line: ``python -m gan_course <command>``.

- ``doctor``        check this machine for the course (exit 1 if something needed is missing)
- ``download``      fetch full MNIST into the cache, verified by MD5
- ``train``         train an MLP GAN, a DCGAN or a conditional DCGAN on MNIST (also under
                    ``torchrun``), writing a checkpoint and a sample grid
- ``sample``        draw digits (or one chosen digit) from a checkpoint into an ``.npz``
- ``train-judge``   retrain the shipped judge classifier deterministically
- ``bench``         training speed and time-to-quality numbers

Each command's work lives in the module it belongs to; this file only parses arguments.
"""

from __future__ import annotations

import argparse
import sys


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m gan_course", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("doctor", help="check Python, packages, device, data and widgets")

    p = sub.add_parser("download", help="download full MNIST into the cache (MD5-verified)")
    p.add_argument("--dest", default=None,
                   help="folder for the four .gz files (default: $GAN_COURSE_DATA/mnist, "
                        "else ~/.cache/gan_course/mnist)")

    p = sub.add_parser("train", help="train a GAN on MNIST (every TrainConfig field is a flag)")
    try:
        from gan_course.commands import add_train_arguments
    except ImportError as err:  # torch missing: `doctor` must still run and say so
        p.set_defaults(import_error=err)
    else:
        add_train_arguments(p)

    p = sub.add_parser("sample", help="draw digits from a checkpoint")
    p.add_argument("checkpoint")
    p.add_argument("-n", type=_positive_int, default=64, help="number of digits")
    p.add_argument("-o", "--output", required=True, help="output .npz (key x: uint8 (N, 28, 28))")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--digit", type=int, default=None,
                   help="draw only this digit (class-conditional checkpoints, e.g. cdcgan)")
    p.add_argument("--no-ema", action="store_true",
                   help="sample G itself, not its moving average (when the run kept one)")

    p = sub.add_parser("train-judge", help="retrain the judge classifier (deterministic)")
    p.add_argument("--out", default=None, help="where to write the weights (default: the package)")

    p = sub.add_parser("bench", help="print training speed and time-to-quality numbers")
    p.add_argument("--device", default=None)
    p.add_argument("--seconds", type=_positive_float, default=None,
                   help="time budget of the time-to-quality run (default 300)")
    p.add_argument("--skip-quality", action="store_true", help="only measure img/s")
    p.add_argument("--skip-speed", action="store_true", help="only the time-to-quality curve")
    p.add_argument("--fix", nargs="+", default=None, metavar="NAME",
                   help="time-to-quality curves of these fixes of gan_course.fixes.FIXES, one "
                        "after the other (default: the DCGAN recipe)")
    p.add_argument("--compile", action="store_true",
                   help="also measure the training loop with torch.compile (compiling takes minutes)")

    p = sub.add_parser("grade", help="grade students' notebooks into a CSV (quick mode)")
    p.add_argument("submissions", nargs="+", help="submitted .ipynb files, or folders of them")
    p.add_argument("-o", "--output", default="grades.csv",
                   help="CSV, one row per notebook and exercise (the summary goes next to it)")
    p.add_argument("--cell-timeout", type=_positive_int, default=300,
                   help="seconds a cell or a checker may run before it is interrupted")
    p.add_argument("--notebook-timeout", type=_positive_int, default=900,
                   help="seconds for all of a notebook's cells together")
    p.add_argument("--course", default=None,
                   help="the course's notebooks/ folder (default: this repository's)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "doctor":
        from gan_course.doctor import run_doctor
        return run_doctor()
    if args.command == "download":
        from gan_course.data import MNISTUnavailable, download_mnist
        try:
            folder = download_mnist(dest=args.dest)
        except MNISTUnavailable as e:  # says what failed on each mirror and what to do
            print(f"error: {e}", file=sys.stderr)
            return 1
        print(f"full MNIST is in {folder} (MD5-verified)")
        return 0
    if args.command == "train":
        if getattr(args, "import_error", None) is not None:
            print(f"error: cannot train: {args.import_error}; run `make doctor`", file=sys.stderr)
            return 2
        from gan_course.commands import train_command
        return train_command(args)
    if args.command == "sample":
        from gan_course.commands import sample_command
        return sample_command(args)
    if args.command == "train-judge":
        from gan_course.judge import train_judge_command
        return train_judge_command(args)
    if args.command == "bench":
        from gan_course.bench import run_bench
        return run_bench(args)
    if args.command == "grade":
        from gan_course.grading import grade_command
        return grade_command(args)
    raise AssertionError(args.command)


if __name__ == "__main__":
    sys.exit(main())
