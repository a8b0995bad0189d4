"""The machinery every exercise checker shares.

A checker runs the student's function on several cases against a reference. It prints one
clear verdict and returns a :class:`CheckResult`:

- pass: every case agrees with the reference;
- fail: the first case that disagrees, what was expected, what came back, and a hint
  aimed at the typical mistake that produces exactly that answer;
- not attempted: the stub still raises ``NotImplementedError`` (or returns ``None``).
  This raises nothing, so a notebook with untouched exercises still runs top to bottom.

Writing a checker::

    def conv_output_size(fn):
        def case(n, k, p, s):
            got, want = fn(n, k, p, s), (n + 2 * p - k) // s + 1
            expect(got == want, f"n={n}, k={k}, p={p}, s={s}: expected {want}, got {got}",
                   hint="the formula is floor((n + 2p - k) / s) + 1")
        return run_exercise("conv_output_size", fn, [lambda: case(28, 3, 1, 1), ...])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable

import torch


class Mismatch(AssertionError):
    """A case where the student's answer differs from the reference."""

    def __init__(self, message: str, hint: str = ""):
        super().__init__(message)
        self.message = message
        self.hint = hint


class _NotAttempted(Exception):
    pass


def expect(condition: bool, message: str, hint: str = "") -> None:
    """Raise :class:`Mismatch` with ``message`` (and a ``hint``) unless ``condition``."""
    if not condition:
        raise Mismatch(message, hint)


def attempted(value):
    """Return ``value``; treat ``None`` (a stub's ``pass``) as not attempted yet."""
    if value is None:
        raise _NotAttempted("your function returned None; did you forget `return`?")
    return value


@dataclass
class CheckResult:
    name: str
    status: str  # "pass", "fail" or "not attempted"
    message: str

    @property
    def passed(self) -> bool:
        return self.status == "pass"

    def __bool__(self) -> bool:
        return self.passed

    def _ipython_display_(self):
        # The verdict was already printed; show nothing more as the cell's Out[].
        pass


def _verdict(result: CheckResult, quiet: bool) -> CheckResult:
    if not quiet:
        mark = {"pass": "PASS", "fail": "FAIL", "not attempted": "TODO"}[result.status]
        print(f"[{mark}] {result.name}: {result.message}")
    return result


def run_exercise(name: str, fn: Callable | None, cases: Iterable[Callable[[], None]],
                 quiet: bool = False) -> CheckResult:
    """Run ``cases`` (callables that raise :class:`Mismatch`) and report one verdict."""
    if fn is None:
        return _verdict(CheckResult(name, "not attempted", "no function given yet."), quiet)
    n = 0
    try:
        # cases may seed torch's global generator; fork it so the student's next cell
        # draws the same numbers as if no checker had run
        with torch.random.fork_rng(devices=[]):
            for case in cases:
                case()
                n += 1
    except (NotImplementedError, _NotAttempted) as e:
        detail = str(e) if isinstance(e, _NotAttempted) else \
            "replace `raise NotImplementedError` in the stub with your code"
        return _verdict(CheckResult(name, "not attempted", f"not attempted yet ({detail})."),
                        quiet)
    except Mismatch as e:
        msg = e.message + (f"\n       Hint: {e.hint}" if e.hint else "")
        return _verdict(CheckResult(name, "fail", msg), quiet)
    except Exception as e:  # the student's code crashed: say where, not a traceback
        return _verdict(CheckResult(
            name, "fail", f"your function raised {type(e).__name__}: {e}"), quiet)
    return _verdict(CheckResult(name, "pass", f"all {n} cases agree with the reference."),
                    quiet)
