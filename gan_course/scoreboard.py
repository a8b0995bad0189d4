"""The course's scoreboard: every generator scored the same way, in one table kept on disk.

:func:`score` takes a generator (or a tensor of its samples), draws ``n`` samples with a
fixed seed and measures them against the bundled subset's 2,000 held-out digits:

==============  ==========================================================================
confident       share of samples the judge gives more than 90% (:func:`metrics.judge_scores`)
entropy         entropy of the judge's classes of the samples, in nats (all equal: log 10)
IS              Inception-score analogue exp(E_x KL(p(y|x) || p(y))), between 1 and 10
FD              Fréchet distance between the judge's features of samples and held-out digits
precision       samples inside the held-out digits' k-NN balls, k = 3 (Kynkäänniemi 2019)
recall          held-out digits inside the samples' k-NN balls, k = 3
density         real k-NN balls per sample over k, k = 5 (Naeem et al. 2020)
coverage        held-out digits whose k-NN ball holds a sample, k = 5
NN distance     median pixel distance from a sample to its nearest training digit
==============  ==========================================================================

each with its 95% bootstrap interval over the samples (:mod:`gan_course.bootstrap`), next to
the real-vs-real references (:func:`reference`): the FD of n real *training* digits to the
held-out ones (the "floor", which a generator can match or beat without being any good:
notebook 07) and the held-out digits' own NN distance, which a copier falls far below.

:class:`Scoreboard` keeps the rows in ``runs/scoreboard-<mode>.json``: notebooks 07-11 each
add their generators with :meth:`Scoreboard.add`, and the table shows them all, ranked by
FD. Rows made in quick mode live in their own file and never mix with full-mode rows; a file
scored with another judge or another protocol is set aside, not mixed in.

The sanity rows of notebook 07 are two "generators" that cheat: :class:`CopyingGenerator`
returns training digits, :class:`OnePerClassGenerator` one fixed digit per class (the one
the judge is surest of).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from gan_course import metrics, runtime
from gan_course.bootstrap import Estimate, bootstrap, counts_of
from gan_course.files import atomic_write

FORMAT = "gan_course.scoreboard/1"

# (key, column title, format, percent, range): the scoreboard's columns in order
COLUMNS = [
    ("confident", "confident %", ".1f", True, (0.0, 1.0)),
    ("entropy", "entropy", ".2f", False, (0.0, math.log(10))),
    ("inception_score", "IS", ".2f", False, (1.0, 10.0)),
    ("fd", "FD", ".1f", False, (0.0, math.inf)),
    ("precision", "precision", ".2f", False, (0.0, 1.0)),
    ("recall", "recall", ".2f", False, (0.0, 1.0)),
    ("density", "density", ".2f", False, (0.0, math.inf)),
    ("coverage", "coverage", ".2f", False, (0.0, 1.0)),
    ("nn_distance", "NN distance", ".1f", False, (0.0, math.inf)),
]
BOUNDS = {key: bounds for key, _, _, _, bounds in COLUMNS}


def protocol() -> dict:
    """How every row is scored in this mode; rows of another protocol are never mixed in."""
    return {"n": runtime.by_mode(full=2000, quick=500),  # samples per generator
            "seed": 0,                                     # noise seed of the samples
            "n_boot": runtime.by_mode(full=200, quick=50),  # bootstrap resamples
            "level": 0.95, "k_pr": 3, "k_dc": 5,
            "reference": "bundled subset: 2,000 held-out digits (8,000 training digits for NN)"}


def judge_id(judge) -> str:
    """A short fingerprint of the judge's weights: rows scored by another judge do not mix."""
    h = hashlib.sha256()
    for name, t in sorted(judge.state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def _training_digits() -> torch.Tensor:
    from gan_course.judge import bundled_subset_split
    return bundled_subset_split()[0]


def _samples(source, n: int, seed: int) -> torch.Tensor:
    if isinstance(source, nn.Module):
        return metrics.sample_generator(source, n, seed)
    x = torch.as_tensor(source)
    if len(x) < n:
        raise ValueError(f"the scoreboard scores n = {n} samples (the Fréchet distance depends on "
                         f"how many: notebook 07, section 4), got a tensor of {len(x)}; pass a "
                         "generator, or at least n samples (the first n are used)")
    return x[:n]


@dataclass
class Row:
    """One generator's scores: ``metrics`` maps each column key to an :class:`Estimate`."""

    name: str
    metrics: dict[str, Estimate]
    class_counts: list[int]
    n: int
    note: str = ""

    def to_dict(self) -> dict:
        return {"name": self.name, "note": self.note, "n": self.n, "class_counts": self.class_counts,
                "metrics": {k: e.to_dict() for k, e in self.metrics.items()}}

    @classmethod
    def from_dict(cls, d: dict) -> Row:
        return cls(d["name"], {k: Estimate(**e) for k, e in d["metrics"].items()},
                   list(d["class_counts"]), int(d["n"]), d.get("note", ""))


def metric_statistic(x: torch.Tensor, judge=None, train_images=None, nn_distance: bool = True):
    """The scoreboard's metrics of the samples ``x`` as a function of resampling indices:
    ``statistic(idx) -> {column key: value}`` for :func:`bootstrap.bootstrap` (``idx =
    torch.arange(len(x))``: all samples once). The judge's outputs, the k-NN balls and the
    nearest-training-digit distances are computed once, here; each call only re-weights them.
    ``nn_distance=False`` leaves that column out (it is the one that needs no judge, and
    the slowest to set up). Also returns the judge's class counts of ``x``.
    """
    p = protocol()
    judge = metrics.get_judge(judge)
    log_probs, feats = metrics.judge_outputs(x, judge)
    held, mu_h, cov_h = metrics.reference_features(judge, "heldout")
    balls = metrics.NeighbourBalls(held, feats, k_pr=p["k_pr"], k_dc=p["k_dc"])
    if nn_distance:
        nn_dist, _ = metrics.nearest_neighbours(x, _training_digits() if train_images is None else train_images)

    def statistic(idx):
        s = metrics.scores_from_log_probs(log_probs[idx])
        knn = balls.scores(counts_of(idx, len(x)))
        out = {"confident": s["confident_fraction"], "entropy": s["class_entropy"],
               "inception_score": s["inception_score"],
               "fd": metrics.frechet_distance_from_stats(*metrics.gaussian_stats(feats[idx]), mu_h, cov_h),
               "precision": knn["precision"], "recall": knn["recall"],
               "density": knn["density"], "coverage": knn["coverage"]}
        if nn_distance:
            out["nn_distance"] = float(nn_dist[idx].median())
        return out

    return statistic, metrics.scores_from_log_probs(log_probs)["class_counts"]


def score(source, name: str, note: str = "", *, judge=None, train_images=None,
          device=None) -> Row:
    """Score a generator (or a tensor of samples) the scoreboard's way; see the module docstring.

    ``n = protocol()["n"]`` samples (``sample_generator(G, n, seed=0)``, or the first n of a
    tensor), every metric on all of them (:func:`metric_statistic`) and its interval from
    ``n_boot`` bootstrap resamples (the reference digits stay fixed). ``train_images``: the
    digits the NN distance measures against (default: the bundled subset's 8,000 training
    digits, what the course's runs train on offline).
    """
    p = protocol()
    judge = metrics.get_judge(judge, device)
    x = _samples(source, p["n"], p["seed"])
    statistic, counts = metric_statistic(x, judge, train_images)
    est = bootstrap(statistic, len(x), p["n_boot"], seed=0, level=p["level"], bounds=BOUNDS)
    return Row(name, est, counts, len(x), note)


def reference(judge=None, train_images=None) -> dict[str, Estimate]:
    """The real-vs-real references, with bootstrap intervals over the real digits:

    - ``fd_floor``: FD of the first n training digits to the held-out ones (at n = 2,000 this
      is :func:`metrics.fid_floor`); two real samples differ too, so FD never reaches 0;
    - ``nn_heldout``: median pixel distance from n held-out digits to their nearest training
      digit, what new real digits give (a copier gives 0).
    """
    from gan_course.judge import bundled_subset_split

    p = protocol()
    judge = metrics.get_judge(judge)
    x_train, _, x_held, _ = bundled_subset_split()
    _, mu_h, cov_h = metrics.reference_features(judge, "heldout")
    _, feats = metrics.judge_outputs(x_train[:p["n"]], judge)
    nn_dist, _ = metrics.nearest_neighbours(x_held[:p["n"]], x_train if train_images is None else train_images)

    def statistic(idx):
        return {"fd_floor": metrics.frechet_distance_from_stats(*metrics.gaussian_stats(feats[idx]), mu_h, cov_h),
                "nn_heldout": float(nn_dist[idx].median())}

    return bootstrap(statistic, p["n"], p["n_boot"], seed=0, level=p["level"],
                     bounds={"fd_floor": (0.0, math.inf), "nn_heldout": (0.0, math.inf)})


# ------------------------------------------------------------------------------- the table

@dataclass(repr=False)
class Scoreboard:
    """Rows of :func:`score` kept in ``path`` (JSON), shown as a table ranked by FD.

    ``Scoreboard.open("runs")`` reads ``runs/scoreboard-<mode>.json`` when it was scored with
    this mode, protocol and judge, else starts empty (and says why); :meth:`add` scores a
    generator, replaces any row of the same name and saves. Displaying it in a notebook
    renders the Markdown table (:meth:`to_markdown`); ``print`` gives :meth:`to_text`.
    """

    path: Path
    judge: str                      # the judge's fingerprint (judge_id)
    protocol: dict
    rows: list[Row] = field(default_factory=list)
    reference: dict[str, Estimate] | None = None
    message: str = ""
    net: nn.Module | None = None    # the judge itself, which scores every row of this table

    @classmethod
    def open(cls, runs_dir: str | Path = "runs", judge=None, quiet: bool = False) -> Scoreboard:
        """The table of this mode in ``runs_dir`` (a missing or incompatible file: an empty one)."""
        path = Path(runs_dir) / f"scoreboard-{runtime.mode_name()}.json"
        net = metrics.get_judge(judge)
        board = cls(path, judge_id(net), protocol(), net=net)
        board.message = board._load()
        if not quiet:
            print(board.message)
        return board

    def _load(self) -> str:
        if not self.path.exists():
            return f"{self.path}: no table yet; starting one ({runtime.mode_name()} mode)"
        try:
            blob = json.loads(self.path.read_text(encoding="utf-8"))
            rows = [Row.from_dict(r) for r in blob["rows"]]
            ref = {k: Estimate(**e) for k, e in blob["reference"].items()} if blob.get("reference") else None
        except (ValueError, KeyError, TypeError) as err:
            return f"{self.path} is unreadable ({type(err).__name__}: {err}); starting a new table"
        why = []
        if blob.get("format") != FORMAT:
            why.append(f"format {blob.get('format')!r}, this version writes {FORMAT!r}")
        if blob.get("mode") != runtime.mode_name():
            why.append(f"made in {blob.get('mode')} mode, this is {runtime.mode_name()} mode")
        if blob.get("protocol") != self.protocol:
            why.append("scored with another protocol (sample size, resamples or k)")
        if blob.get("judge") != self.judge:
            why.append("scored by another judge (its weights changed since)")
        if why:
            return (f"{self.path}: set aside, {'; '.join(why)}: starting a new table "
                    "(saving replaces the file)")
        self.rows, self.reference = rows, ref
        return f"{self.path}: {len(rows)} rows ({', '.join(r.name for r in rows) or 'none'})"

    def add(self, source, name: str, note: str = "", train_images=None) -> Row:
        """Score ``source`` (a generator or samples) as ``name`` with this table's judge (see
        :func:`score`) and save the table."""
        row = score(source, name, note, judge=self.net, train_images=train_images)
        self.put(row)
        return row

    def put(self, row: Row) -> None:
        """Insert ``row`` (replacing a row of the same name) and save."""
        if row.n != self.protocol["n"]:
            raise ValueError(f"row {row.name!r} has {row.n} samples; this table's protocol scores "
                             f"{self.protocol['n']}")
        names = [r.name for r in self.rows]
        if row.name in names:
            self.rows[names.index(row.name)] = row
        else:
            self.rows.append(row)
        self.save()

    def remove(self, name: str) -> None:
        self.rows = [r for r in self.rows if r.name != name]
        self.save()

    def save(self) -> Path:
        if self.reference is None:
            self.reference = reference(self.net)
        blob = {"format": FORMAT, "mode": runtime.mode_name(), "protocol": self.protocol,
                "judge": self.judge, "reference": {k: e.to_dict() for k, e in self.reference.items()},
                "rows": [r.to_dict() for r in self.rows]}
        with atomic_write(self.path, "w") as f:
            json.dump(blob, f, indent=1)
        return self.path

    def ranked(self, by: str = "fd") -> list[Row]:
        """The rows, best first by ``by`` (lower FD or NN distance is better; higher otherwise)."""
        lower_is_better = by in ("fd", "nn_distance")
        return sorted(self.rows, key=lambda r: r.metrics[by].value * (1 if lower_is_better else -1))

    def _reference_line(self) -> str:
        if self.reference is None:
            self.reference = reference(self.net)
        f, d = self.reference["fd_floor"], self.reference["nn_heldout"]
        n = self.protocol["n"]
        return (f"{runtime.mode_name()} mode, {n:,} samples each, 95% bootstrap intervals. References: "
                f"FD of {n:,} real training digits to the held-out ones {f.format('.1f')}; "
                f"held-out digits' NN distance {d.format('.1f')}.")

    def to_markdown(self, by: str = "fd") -> str:
        """A GitHub Markdown table: one row per generator, "value (low–high)" in each cell."""
        head = "| # | generator | " + " | ".join(t for _, t, _, _, _ in COLUMNS) + " |"
        lines = [self._reference_line(), "", head, "|" + "---|" * (len(COLUMNS) + 2)]
        for i, r in enumerate(self.ranked(by), 1):
            cells = [_cell(r.metrics[k], spec, pct, " (", "–", ")") for k, _, spec, pct, _ in COLUMNS]
            name = r.name.replace("|", "/") + (f" <br><sub>{r.note}</sub>" if r.note else "")
            lines.append(f"| {i} | {name} | " + " | ".join(cells) + " |")
        return "\n".join(lines)

    def to_text(self, by: str = "fd") -> str:
        """A fixed-width table: each generator's values, its intervals on the line below."""
        width = max([len(r.name) for r in self.rows] + [9]) + 2
        cols = [max(len(t), 11) for _, t, _, _, _ in COLUMNS]
        lines = [self._reference_line(),
                 "generator".ljust(width) + " ".join(t.rjust(w) for (_, t, _, _, _), w in zip(COLUMNS, cols))]
        for r in self.ranked(by):
            vals, ints = [], []
            for (k, _, spec, pct, _), w in zip(COLUMNS, cols):
                e = r.metrics[k]
                scale = 100 if pct else 1
                vals.append(f"{scale * e.value:{spec}}".rjust(w))
                ints.append(f"{scale * e.low:{spec}}–{scale * e.high:{spec}}".rjust(w))
            lines.append(r.name.ljust(width) + " ".join(vals))
            lines.append(" " * width + " ".join(ints))
        return "\n".join(lines)

    def _repr_markdown_(self) -> str:
        return self.to_markdown()

    def __str__(self) -> str:
        return self.to_text()

    __repr__ = __str__


def _cell(e: Estimate, spec: str, percent: bool, open_: str, dash: str, close: str) -> str:
    scale = 100 if percent else 1
    return f"{scale * e.value:{spec}}{open_}{scale * e.low:{spec}}{dash}{scale * e.high:{spec}}{close}"


# ----------------------------------------------------------------------- sanity "generators"

class CopyingGenerator(nn.Module):
    """A "generator" that returns training digits: noise z picks the digit with index
    i = floor(Phi(z_1) N) of its N ``images`` (Phi the normal CDF, so every digit is equally
    likely). It scores like real data on every metric that compares distributions; only the
    distance to the nearest training digit (0) gives it away."""

    def __init__(self, images: torch.Tensor, latent_dim: int = 100):
        super().__init__()
        self.latent_dim = latent_dim
        # a Parameter (frozen) so that the images move with .to(device) like a model's weights
        self.images = nn.Parameter(torch.as_tensor(images).detach().clone().float(), requires_grad=False)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        u = torch.special.ndtr(z[:, 0].double())
        i = (u * len(self.images)).long().clamp(0, len(self.images) - 1)
        return self.images[i.to(self.images.device)]


class OnePerClassGenerator(CopyingGenerator):
    """The "one fixed real digit per class" cheat: ``images`` holds one digit of each class
    (:meth:`from_data` picks, in each class, the training digit the judge is surest of); z
    picks one of them uniformly. The judge is sure of each and sees every class equally often,
    so its class entropy and the Inception-score analogue come out near their maxima, with no
    diversity at all."""

    @classmethod
    def from_data(cls, x: torch.Tensor, y: torch.Tensor, latent_dim: int = 100,
                  judge: nn.Module | None = None) -> OnePerClassGenerator:
        log_p, _ = metrics.judge_outputs(x, judge)  # judge None: the shipped one
        sure = log_p.gather(1, y.long().view(-1, 1)).squeeze(1)
        picks = [int(torch.where(y == c, sure, -math.inf).argmax()) for c in range(10)]
        return cls(x[picks], latent_dim)


# ------------------------------------------------------------- the course's trained generators

def course_generator(arch: str, run_dir: str | Path, cfg, x: torch.Tensor, device=None,
                     train_steps: int | None = None):
    """The generator a course notebook trained, else the shipped one, else one trained here.

    ``run_dir/checkpoint.pt`` is used when it is a run of ``cfg`` on ``x`` in this mode
    (:func:`run_state.checkpoint_matches`: a quick-mode run never stands in for a full one);
    else :func:`models.load_pretrained` (``arch`` "mlp" or "dcgan"); else (no shipped file) a
    run of ``cfg`` for ``train_steps`` steps. Returns ``(G, where)``, G in eval mode and
    ``where`` one line saying which it is.
    """
    from gan_course.checkpoints import generator_from_checkpoint
    from gan_course.models import build_gan, load_pretrained, pretrained_path
    from gan_course.run_state import checkpoint_matches
    from gan_course.training import train_gan

    path = Path(run_dir) / "checkpoint.pt"
    ok, why = checkpoint_matches(path, cfg, x)
    if ok:
        return generator_from_checkpoint(path).to(runtime.pick_device(device)), f"loaded {why}"
    if pretrained_path(arch).exists():
        return load_pretrained(arch, runtime.pick_device(device)), f"the shipped {arch} generator ({why})"
    steps = train_steps or cfg.steps
    G, D = build_gan(arch)
    history = train_gan(G, D, x, dataclasses.replace(cfg, steps=steps), device=device)
    G = history.G_ema if history.G_ema is not None else G
    return G.eval(), f"trained here for {len(history):,} steps (no run in {run_dir}, no shipped {arch} file)"
