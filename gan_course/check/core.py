"""The machinery every exercise checker shares.

A checker runs the student's function on several cases against a reference. It prints one
clear verdict and returns a :class:`CheckResult`:

- pass: every case agrees with the reference;
- fail: the first case that disagrees, what was expected, what came back, and a hint
  aimed at the typical mistake that produces exactly that answer;
- not attempted: the stub still raises ``NotImplementedError`` (or returns ``None``).
  This raises nothing, so a notebook with untouched exercises still runs top to bottom.

Writing a checker::

    def conv_output_size(fn, quiet=False):
        def case(n, k, p, s):
            got, want = fn(n, k, p, s), (n + 2 * p - k) // s + 1
            expect(got == want, f"n={n}, k={k}, p={p}, s={s}: expected {want}, got {got}",
                   hint="the formula is floor((n + 2p - k) / s) + 1")
        return run_exercise("conv_output_size", fn, [lambda: case(28, 3, 1, 1), ...], quiet)

Besides that machinery this module holds what several checkers need:

- answers as numbers: :func:`as_tensor`, :func:`as_number`, :func:`is_int`, :func:`close`, :func:`fmt`,
  :func:`call` (a shape error becomes a hint, not a traceback), :func:`name_the_mistake`
  (which typical mistake reproduces the student's answers on all cases), :func:`hint_for`
  (which one reproduces this case's answer);
- what a student's function must leave alone: :func:`snapshot` / :func:`expect_unchanged`
  for input tensors (values, ``requires_grad``, the graph an input carries),
  :func:`module_state` / :func:`expect_restored` for models (train/eval mode, frozen
  parameters, ``.grad``), :class:`GlobalRNGWatch` (did it draw from torch's global
  stream?), :func:`refusing` (switch a library function off while the student's code runs);
- the D and G losses of every loss checker (notebooks 00, 02 and 05): the references
  :func:`d_loss_reference` / :func:`g_loss_reference`, one list each of the typical wrong
  losses (:data:`D_LOSS_MISTAKES`, :data:`G_LOSS_MISTAKES`) with the hint aimed at each,
  :func:`diagnose_loss`, and :func:`d_loss_cases`, the whole check of D's loss
  written on logits (notebooks 00 and 05 ask for it).
"""

from __future__ import annotations

import contextlib
import math
import numbers
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

import torch
from torch import nn
from torch.nn import functional as F


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
    """Run ``cases`` (callables that raise :class:`Mismatch`) and report one verdict;
    ``quiet=True`` returns it without printing."""
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


# ---------------------------------------------------------------------------------------
# answers as numbers
# ---------------------------------------------------------------------------------------

def as_tensor(value, what: str, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """The student's answer as a detached tensor of ``dtype`` (tensors, NumPy arrays,
    lists and numbers are accepted; a 1-tuple is unwrapped)."""
    value = attempted(value)
    if isinstance(value, tuple) and len(value) == 1:
        value = value[0]
    try:
        if isinstance(value, torch.Tensor):
            return value.detach().cpu().to(dtype)
        return torch.as_tensor(value, dtype=dtype)  # Python floats: no detour through float32
    except Exception as e:
        raise Mismatch(f"{what}: expected numbers, got {type(value).__name__} ({e})",
                       hint="return a torch tensor (or a number where one number is asked)") from None


def as_number(value, name: str) -> float:
    """A number the student returned (a Python number or a one-element tensor) as a float."""
    attempted(value)
    if isinstance(value, torch.Tensor):
        expect(value.numel() == 1, f"{name} has shape {tuple(value.shape)}, expected one number",
               hint="average over the batch (.mean()), so the loss is one number")
        return float(value.detach().reshape(()))
    try:
        return float(value)
    except (TypeError, ValueError):
        raise Mismatch(f"{name} should be a number or a 0-d tensor, got {type(value).__name__}",
                       hint="return the loss (a tensor or loss.item())") from None


def is_int(value) -> bool:
    """A whole number as Python, NumPy or a one-element integer tensor has it (not a bool)."""
    if torch.is_tensor(value):
        return value.numel() == 1 and not value.is_floating_point() and value.dtype != torch.bool
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _f64(value) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().to(torch.float64)
    return torch.as_tensor(value, dtype=torch.float64)


def close(got, want, rtol: float = 1e-6, atol: float = 1e-8) -> bool:
    """Same shape and equal within the tolerance, compared in float64. A non-finite entry
    only matches the same non-finite entry of ``want``."""
    got, want = _f64(got), _f64(want)
    return got.shape == want.shape and bool(torch.allclose(got, want, rtol=rtol, atol=atol,
                                                           equal_nan=True))



def hint_for(got, mistakes: Sequence[tuple[Callable, str]], args: tuple, otherwise: str,
             rtol: float = 1e-5, atol: float = 1e-7) -> str:
    """The hint of the first typical mistake whose formula gives ``got`` on this case's
    ``args`` (same shape, within the tolerance, :func:`close`), else ``otherwise``.
    ``mistakes`` holds ``(formula, hint)`` pairs; for several cases at once see
    :func:`name_the_mistake`."""
    for formula, hint in mistakes:
        want = formula(*args)
        if close(got, want.detach() if isinstance(want, torch.Tensor) else want, rtol=rtol, atol=atol):
            return hint
    return otherwise

def fmt(t, n: int = 4) -> str:
    """A number as ``1.234``, a tensor as ``[a, b, c, d, ...]``: short enough for a verdict."""
    t = _f64(t)
    if t.numel() == 1:
        return f"{float(t):.6g}"
    head = ", ".join(f"{v:.4g}" for v in t.flatten()[:n].tolist())
    return "[" + head + (", ..." if t.numel() > n else "") + "]"


def name_the_mistake(cases: Sequence[tuple], answers: Sequence, mistakes: Sequence[tuple[Callable, str]],
                     same: Callable[[object, object], bool], failing: int) -> str | None:
    """The hint of the typical mistake behind the student's ``answers`` (one per case, ``None``
    where the function raised): the first of ``mistakes`` (``(formula, hint)`` pairs, each
    formula computing from a case's arguments what that mistake gives) that reproduces the
    answers on EVERY case, else the first that reproduces the failing case, else ``None``.

    Two mistakes can coincide on one case (with p = 0, "forgot 2p" and "used p" agree; two
    histograms' signed and absolute CDF sums agree where the CDFs do not cross), so one case
    alone can name the wrong one.
    """
    def agrees(formula, i):
        return answers[i] is not None and same(answers[i], formula(*cases[i]))

    for formula, hint in mistakes:
        if all(agrees(formula, i) for i in range(len(cases))):
            return hint
    return next((hint for formula, hint in mistakes if agrees(formula, failing)), None)


_SHAPE_WORDS = ("shape", "size", "dimension", "mat1", "mat2", "broadcast")


def call(fn, *args, shape_hint: str | Callable[[str], str] = ""):
    """Call the student's function; a shape error (RuntimeError/ValueError naming a size)
    becomes a :class:`Mismatch` with ``shape_hint`` (a string, or a function of the error
    message) instead of a bare traceback."""
    try:
        return fn(*args)
    except NotImplementedError:
        raise
    except (RuntimeError, ValueError, IndexError) as e:
        if shape_hint and any(w in str(e) for w in _SHAPE_WORDS):
            hint = shape_hint(str(e)) if callable(shape_hint) else shape_hint
            raise Mismatch(f"your function raised {type(e).__name__}: {e}", hint=hint) from None
        raise


# ---------------------------------------------------------------------------------------
# what the student's function must leave as it found it
# ---------------------------------------------------------------------------------------

@dataclass
class _TensorState:
    value: torch.Tensor
    requires_grad: bool
    has_graph: bool
    grad: torch.Tensor | None


def _grad(t: torch.Tensor) -> torch.Tensor | None:
    return t.grad if t.is_leaf else None  # only leaves accumulate a .grad


def snapshot(**tensors: torch.Tensor) -> dict[str, _TensorState]:
    """Remember each input tensor's values, ``requires_grad``, graph and ``.grad``."""
    return {name: _TensorState(t.detach().clone(), t.requires_grad, t.grad_fn is not None,
                               None if _grad(t) is None else _grad(t).detach().clone())
            for name, t in tensors.items()}


def expect_unchanged(where: str, tensors: dict[str, torch.Tensor], before: dict[str, _TensorState],
                     atol: float = 0.0) -> None:
    """Fail if the student's function changed an input in place: its values (beyond
    ``atol``: a value restored by arithmetic comes back only up to rounding), its
    ``requires_grad`` flag, the graph it carried (``detach_()``) or its ``.grad``."""
    for name, t in tensors.items():
        s = before[name]
        if s.has_graph and t.grad_fn is None:
            raise Mismatch(f"{where}: `{name}` lost its graph: your function detached the caller's "
                           "tensor in place",
                           hint=f"{name}.detach_() (or .requires_grad_(False)) changes the caller's "
                                f"tensor: the step that uses {name} next gets no gradient. "
                                f"{name}.detach() returns a detached copy and leaves {name} alone")
        if t.requires_grad != s.requires_grad:
            raise Mismatch(f"{where}: your function switched `{name}.requires_grad` from "
                           f"{s.requires_grad} to {t.requires_grad}",
                           hint=f"that flag belongs to the caller's tensor; differentiate a copy: "
                                f"{name}.detach().clone().requires_grad_(True)")
        value = t.detach()
        if value.shape != s.value.shape or not torch.allclose(
                value.to(torch.float64), s.value.to(torch.float64), rtol=0.0, atol=atol, equal_nan=True):
            change = (value.to(torch.float64) - s.value.to(torch.float64)).abs().max().item() \
                if value.shape == s.value.shape else float("nan")
            raise Mismatch(f"{where}: your function changed `{name}` in place (largest change {change:.3g})",
                           hint="in-place operations (+=, x[i] = ..., .add_(), .sigmoid_(), /=) write "
                                "into the caller's tensor; compute on a copy (.clone()) or with "
                                "out-of-place operations, or put every entry back before returning")
        grad = _grad(t)
        if (grad is None) != (s.grad is None) or (grad is not None and not torch.equal(grad, s.grad)):
            raise Mismatch(f"{where}: your function filled `{name}.grad`",
                           hint=f"backward() accumulates into the caller's {name}.grad; "
                                "torch.autograd.grad(loss, inputs) returns the gradient and "
                                "touches no .grad")


@dataclass
class _ModuleState:
    training: list[bool]
    requires_grad: list[bool]
    grads: list[torch.Tensor | None]


def module_state(model: nn.Module) -> _ModuleState:
    """Remember a model's train/eval flags, which parameters require grad, and their .grad."""
    return _ModuleState([m.training for m in model.modules()],
                        [p.requires_grad for p in model.parameters()],
                        [None if p.grad is None else p.grad.detach().clone() for p in model.parameters()])


def expect_restored(where: str, name: str, model: nn.Module, before: _ModuleState,
                    grads: bool = False, grad_hint: str = "") -> None:
    """Fail if the student's function left ``model`` in another mode, frozen (or unfrozen),
    or (with ``grads=True``) with different ``.grad``s than it found."""
    now = module_state(model)
    if now.training != before.training:
        was, left = ("train", "eval") if before.training[0] else ("eval", "train")
        raise Mismatch(f"{where}: {name} was in {was} mode and your function left it in {left} mode",
                       hint=f"put {name} back as you found it: `with gan_course.models.eval_mode({name}):` "
                            f"restores the mode on exit (or save {name}.training and call "
                            f"{name}.train(flag) afterwards). Batch norm and dropout behave "
                            "differently in the two modes, so the next training step would be wrong")
    if now.requires_grad != before.requires_grad:
        frozen = sum(a and not b for a, b in zip(before.requires_grad, now.requires_grad))
        if frozen:
            raise Mismatch(f"{where}: {frozen} of {name}'s parameters are left frozen "
                           "(requires_grad=False)",
                           hint=f"you froze {name} ({name}.requires_grad_(False)) and never unfroze "
                                f"it: {name}'s own training step would then get no gradient. Unfreeze "
                                f"before returning, {name}.requires_grad_(True), as notebook 02 "
                                "section 5 does")
        raise Mismatch(f"{where}: your function changed which of {name}'s parameters require grad",
                       hint=f"leave {name}'s requires_grad flags as they were")
    if grads:
        same = all((a is None and b is None) or (a is not None and b is not None and torch.equal(a, b))
                   for a, b in zip(before.grads, now.grads))
        expect(same, f"{where}: your function changed {name}'s .grad", hint=grad_hint or
               f"backward() writes {name}'s gradients into .grad, where the next optimiser step "
               "finds them; torch.autograd.grad(loss, inputs) computes a gradient without touching .grad")


class GlobalRNGWatch:
    """``with GlobalRNGWatch() as rng: fn(...)``; then ``rng.used`` says whether the code
    inside drew from torch's global random stream (``torch.randn``, ``torch.rand``, ...)."""

    def __enter__(self):
        self._state = torch.random.get_rng_state()
        self.used = False
        return self

    def __exit__(self, *exc):
        self.used = not torch.equal(self._state, torch.random.get_rng_state())
        return False


@contextlib.contextmanager
def refusing(targets: Sequence[tuple[object, str]], message: str):
    """Make each ``getattr(owner, name)`` in ``targets`` raise ``RuntimeError(message)``
    while the block runs (the student's function), then put the originals back.

    An exercise that asks for a computation by hand would pass every case, and teach
    nothing, if the library did it: the checker switches that library function off.
    """
    def refuse(*args, **kwargs):
        raise RuntimeError(message)

    saved = [(owner, name, getattr(owner, name)) for owner, name in targets]
    for owner, name, _ in saved:
        setattr(owner, name, refuse)
    try:
        yield
    finally:
        for owner, name, original in saved:
            setattr(owner, name, original)


# ---------------------------------------------------------------------------------------
# the D and G losses: references and the typical wrong answers, for every loss checker
# ---------------------------------------------------------------------------------------

def d_loss_reference(logits_real: torch.Tensor, logits_fake: torch.Tensor) -> torch.Tensor:
    """``loss_D = BCE(l_real, 1) + BCE(l_fake, 0) = mean softplus(-l_real) + mean softplus(l_fake)``:
    the sum of the two batch means (``losses.d_loss_bce``), in float64."""
    r, f = logits_real.detach().double(), logits_fake.detach().double()
    return F.softplus(-r).mean() + F.softplus(f).mean()


def g_loss_reference(logits_fake: torch.Tensor) -> torch.Tensor:
    """The non-saturating ``loss_G = -mean log sigmoid(l_fake) = mean softplus(-l_fake)``, in float64."""
    return F.softplus(-logits_fake.detach().double()).mean()


def _bce(logits: torch.Tensor, target: float) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))


_sp = F.softplus

# (what the wrong loss computes from the float64 logits, the hint aimed at it). The list is
# tried in order and the first match names the mistake, so the more specific ones come first.
D_LOSS_MISTAKES: list[tuple[Callable[[torch.Tensor, torch.Tensor], torch.Tensor], str]] = [
    (lambda r, f: _sp(r).mean() + _sp(-f).mean(),
     "the labels are swapped: real images get the target 1 and fakes the target 0 (the source "
     "material labelled them the other way round)"),
    (lambda r, f: -(_sp(-r).mean() + _sp(f).mean()),
     "the sign is flipped: D *minimises* the BCE -mean log D(x) - mean log(1 - D(G(z))), which is >= 0"),
    (lambda r, f: _sp(-r).mean() + _sp(-f).mean(),
     "the fake term uses the label 1, G's target; in D's loss fakes are labelled 0"),
    (lambda r, f: _sp(r).mean() + _sp(f).mean(),
     "the real term uses the label 0; in D's loss real images are labelled 1"),
    (lambda r, f: _sp(f).mean(),
     "the real-data term BCE(l_real, 1) is missing: D must also learn to accept real images"),
    (lambda r, f: _sp(-r).mean(),
     "the fake-data term BCE(l_fake, 0) is missing: D must also learn to reject fakes"),
    (lambda r, f: f.mean() - r.mean(),
     "that is a mean of raw logits (a WGAN critic's loss); a D with one logit and real = 1, "
     "fake = 0 uses the binary cross-entropy of sigmoid(l)"),
    (lambda r, f: r.mean() - f.mean(),
     "that is a mean of raw logits (with the sign flipped, too); use the binary cross-entropy "
     "of sigmoid(l)"),
    (lambda r, f: 0.5 * (_sp(-r).mean() + _sp(f).mean()),
     "the course's loss_D is the *sum* of the two BCE terms (= -V on the batch, "
     "losses.d_loss_bce), not their average"),
    (lambda r, f: torch.cat([_sp(-r), _sp(f)]).mean(),
     "one mean over both batches together weighs each batch by its size; take each batch's mean, "
     "then add the two means (the course's loss_D is their sum)"),
    (lambda r, f: 2 * torch.cat([_sp(-r), _sp(f)]).mean(),
     "twice one mean over both batches equals the sum of the two batch means only when both "
     "batches have the same size; take each batch's mean, then add them"),
    (lambda r, f: torch.cat([_sp(-r), _sp(f)]).sum() / len(r),
     "both sums are divided by the *real* batch's size: right only when both batches have the "
     "same size; average each batch over its own samples"),
    (lambda r, f: torch.cat([_sp(-r), _sp(f)]).sum() / len(f),
     "both sums are divided by the *fake* batch's size: right only when both batches have the "
     "same size; average each batch over its own samples"),
    (lambda r, f: _sp(-r).sum() + _sp(f).sum(),
     "that is a sum over samples: take the mean of each batch"),
    (lambda r, f: _bce(r, 0.9) + _bce(f, 0.0),
     "a real target of 0.9 is one-sided label smoothing, a variant; this exercise asks for the "
     "plain labels real = 1, fake = 0"),
    (lambda r, f: _bce(r, 1.0) + _bce(f, 0.1),
     "the fakes' target is 0, not 0.1: smoothing the fake labels rewards D for calling fakes "
     "a little real (one-sided smoothing touches the real labels only)"),
    (lambda r, f: _bce(r, 0.0) + _bce(f, 0.9),
     "real images labelled 0 and fakes 0.9 is the source material's mistake: real = 1, fake = 0"),
    (lambda r, f: _bce(torch.sigmoid(r), 1.0) + _bce(torch.sigmoid(f), 0.0),
     "sigmoid is applied twice: binary_cross_entropy_with_logits applies it itself, so pass it "
     "the raw logits"),
    (lambda r, f: torch.sigmoid(f).mean() - torch.sigmoid(r).mean(),
     "the log is missing: the BCE is -mean log D(x) - mean log(1 - D(G(z))), not a mean of "
     "probabilities"),
]

G_LOSS_MISTAKES: list[tuple[Callable[[torch.Tensor], torch.Tensor], str]] = [
    (lambda f: -_sp(f).mean(),
     "that is the SATURATING loss mean log(1 - D(G(z))): its gradient vanishes when D rejects the "
     "fakes. The course uses the non-saturating -mean log D(G(z))"),
    (lambda f: _sp(f).mean(),
     "that is BCE(D(G(z)), 0): the fake label 0 is D's target. G wants D to call its fakes real: "
     "target 1, -mean log D(G(z))"),
    (lambda f: -_sp(-f).mean(),
     "the sign is flipped: G *minimises* -mean log D(G(z)), which is >= 0"),
    (lambda f: -f.mean(),
     "that is -mean(raw logits), a WGAN generator's loss; with D(G(z)) = sigmoid(l) the loss is "
     "-mean log sigmoid(l) = mean softplus(-l)"),
    (lambda f: _sp(-f).sum(),
     "that is a sum over the fakes: take the mean"),
    (lambda f: _bce(f, 0.9),
     "G's target is 1: label smoothing (0.9) is for D's real labels, never for G's loss"),
    (lambda f: _bce(torch.sigmoid(f), 1.0),
     "sigmoid is applied twice: binary_cross_entropy_with_logits applies it itself, so pass it "
     "the raw logits"),
    (lambda f: -torch.sigmoid(f).mean(),
     "the log is missing: the loss is -mean log D(G(z)), not -mean D(G(z))"),
    (lambda f: 1 - torch.sigmoid(f).mean(),
     "the log is missing: the loss is -mean log D(G(z)), not mean(1 - D(G(z)))"),
]

_UNSTABLE = ("the loss is not finite: in float32, sigmoid(l) rounds to 0 for l below about -88.7 "
             "and to 1 above about 16.7 (float64: -709.8 and 36.8), so log(sigmoid(l)) or "
             "log(1 - sigmoid(l)) takes log(0); exp(-l) overflows there too. Use "
             "F.binary_cross_entropy_with_logits, or F.logsigmoid(l) with "
             "log(1 - sigmoid(l)) = F.logsigmoid(-l)")

_CAPPED = ("right for moderate logits, wrong for these extreme ones: an eps or clamp inside the log "
           "(log(sigmoid(l) + 1e-8), sigmoid(l).clamp(...)) caps the loss, and so does "
           "F.binary_cross_entropy on sigmoid(l), which clamps every log at -100. Work on the logits: "
           "F.binary_cross_entropy_with_logits or F.logsigmoid")


def diagnose_loss(kind: str, got: float, logits_real: torch.Tensor | None,
                  logits_fake: torch.Tensor, default: str) -> str:
    """The hint for a wrong loss value ``got``: non-finite (overflow), one of the typical
    mistakes of ``kind`` ("d" or "g"), capped at extreme logits, or ``default``."""
    if not math.isfinite(got):
        return _UNSTABLE
    f = logits_fake.detach().double()
    if kind == "d":
        r = logits_real.detach().double()
        values = [(fn(r, f), hint) for fn, hint in D_LOSS_MISTAKES]
        extreme = max(r.abs().max(), f.abs().max()) > 30
    else:
        values = [(fn(f), hint) for fn, hint in G_LOSS_MISTAKES]
        extreme = f.abs().max() > 30
    for value, hint in values:
        value = float(value)
        if math.isfinite(value) and abs(got - value) <= 1e-4 * (1 + abs(value)):
            return hint
    return _CAPPED if extreme else default


def scalar_loss(value, name: str) -> torch.Tensor:
    """The student's loss: it must be a one-element tensor (not a number: backward needs it)."""
    attempted(value)
    expect(isinstance(value, torch.Tensor),
           f"{name} should be a tensor, got {type(value).__name__}",
           hint="return the loss tensor itself (not loss.item() or a NumPy value), so that "
                ".backward() can run from it")
    expect(value.numel() == 1, f"{name} has shape {tuple(value.shape)}, expected one number",
           hint="average over the batch (.mean()): a loss is one number")
    return value


def loss_shape_hint(n_real: int | None, n_fake: int) -> Callable[[str], str]:
    """The hint for a shape error inside a loss, read from the error: (B, 1) targets
    against (B,) logits, or elementwise arithmetic between batches of different sizes."""
    def hint(error: str) -> str:
        if n_real is not None and n_real != n_fake and "arget size" not in error:
            return (f"the real and the fake batch have different sizes ({n_real} and {n_fake}): "
                    "average each batch on its own and add the two means. Elementwise arithmetic "
                    "between the two batches only runs when they happen to be equal")
        return ("D returns one logit per sample, shape (B,): build the targets with "
                "torch.ones_like(logits) / torch.zeros_like(logits), not torch.ones(B, 1)")
    return hint


def check_d_loss_from_logits(fn, label: str, logits_real: torch.Tensor, logits_fake: torch.Tensor) -> None:
    """One case of D's loss written on logits, ``fn(logits_real, logits_fake) -> loss_D``.

    The loss must agree with :func:`d_loss_reference` (relative 1e-5: float32 is fine), stay
    finite, be a tensor connected to both logit tensors with the reference's gradient, and
    leave the logits as they were.
    """
    leaves = {"logits_real": logits_real.detach().clone().requires_grad_(True),
              "logits_fake": logits_fake.detach().clone().requires_grad_(True)}
    before = snapshot(**leaves)
    out = call(fn, *leaves.values(), shape_hint=loss_shape_hint(len(logits_real), len(logits_fake)))
    loss = scalar_loss(out, "loss_D")
    got = float(loss.detach().reshape(()))
    want = float(d_loss_reference(logits_real, logits_fake))
    if not (math.isfinite(got) and abs(got - want) <= 1e-5 * (1 + abs(want))):
        raise Mismatch(f"{label}: expected {want:.6g}, got {got:.6g}", diagnose_loss(
            "d", got, logits_real, logits_fake,
            "loss_D = BCE(l_real, 1) + BCE(l_fake, 0) = mean softplus(-l_real) + mean "
            "softplus(l_fake); F.binary_cross_entropy_with_logits computes each term"))
    expect_unchanged(label, leaves, before)
    expect(loss.requires_grad, f"{label}: the value is right but the loss is not connected to the "
           "logits (no gradient)",
           hint="compute it with torch operations on the logits: no .item(), .detach(), NumPy or "
                "torch.no_grad()")
    r, f = (t.detach().double() for t in leaves.values())
    wants = ((torch.sigmoid(r) - 1) / len(r),   # d/dl mean softplus(-l)
             torch.sigmoid(f) / len(f))         # d/dl mean softplus(l)
    grads = torch.autograd.grad(loss.sum(), list(leaves.values()), allow_unused=True)
    for which, grad, want_grad in zip(leaves, grads, wants):
        expect(grad is not None and close(grad, want_grad, rtol=1e-4, atol=1e-7),
               f"{label}: the gradient with respect to {which} is "
               f"{fmt(grad) if grad is not None else 'None'}, expected {fmt(want_grad)}",
               hint="build the loss from the logits with torch operations only; a clamp, an eps "
                    "or a detach changes the gradient")


# Cases for D's loss on logits (labels, real logits, fake logits), float32 like training:
# the two batches differ in size (elementwise sums of the batches, or one mean over both,
# are right only for equal sizes), and the last two cases reach |l| = 300, where
# log(sigmoid(l)) and exp(-l) overflow in float32.
D_LOSS_CASES = [
    ("l_real = [2, 1], l_fake = [-1, 0.5, 0.2]", [2.0, 1.0], [-1.0, 0.5, 0.2]),
    ("5 real logits, 3 fake logits", [0.3, -0.2, 1.5, 2.5, -1.0], [-2.0, 0.1, 1.2]),
    ("2 real logits, 4 fake logits", [0.1, -3.0], [3.0, -0.5, 0.2, 1.0]),
    ("a very confident D: l_real = [300, 40, 120], l_fake = [-90, -300]", [300.0, 40.0, 120.0], [-90.0, -300.0]),
    ("a D fooled badly: l_real = [-300, -3], l_fake = [80, 300, 2]", [-300.0, -3.0], [80.0, 300.0, 2.0]),
]

def d_loss_cases(fn) -> list[Callable[[], None]]:
    """The cases of a D-loss-from-logits checker ``fn(logits_real, logits_fake)``."""
    return [lambda c=c: check_d_loss_from_logits(fn, c[0], torch.tensor(c[1]), torch.tensor(c[2]))
            for c in D_LOSS_CASES]
