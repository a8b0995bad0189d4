"""The scoreboard: one row is the metrics it says with intervals around them, the sanity
"generators" are caught by the columns meant to catch them, and the table on disk keeps its
rows, sets aside files of another mode, judge or protocol, and renders as text and Markdown."""

import json

import pytest
import torch

from gan_course import metrics, runtime, scoreboard as S
from gan_course.judge import bundled_subset_split


@pytest.fixture(scope="module")
def data():
    return bundled_subset_split()


@pytest.fixture(scope="module")
def rows(data):
    x, y, _, _ = data
    return {"copier": S.score(S.CopyingGenerator(x), "copier"),
            "cheat": S.score(S.OnePerClassGenerator.from_data(x, y), "cheat")}


def test_a_row_is_the_metrics_on_all_samples_with_intervals_around_them(data, rows):
    x, _, _, _ = data
    p = S.protocol()
    row = rows["copier"]
    assert row.n == p["n"] and sum(row.class_counts) == p["n"]
    assert set(row.metrics) == {key for key, *_ in S.COLUMNS}
    for key, e in row.metrics.items():
        lo, hi = S.BOUNDS[key]
        assert lo <= e.low <= e.value <= e.high <= hi, key
    # the value column is the plain metric on the same samples
    samples = metrics.sample_generator(S.CopyingGenerator(x), p["n"], seed=0)
    assert row.metrics["fd"].value == pytest.approx(metrics.fid_vs_heldout(samples))
    s = metrics.judge_scores(samples)
    assert row.metrics["inception_score"].value == pytest.approx(s["inception_score"])
    assert row.metrics["confident"].value == pytest.approx(s["confident_fraction"])


def test_the_sanity_rows_are_caught_where_they_should_be(rows):
    copier, cheat = rows["copier"].metrics, rows["cheat"].metrics
    ref = S.reference()
    assert copier["nn_distance"].value < 1e-3 < ref["nn_heldout"].value         # copies: distance 0
    assert copier["fd"].value < 2 * ref["fd_floor"].value + 2                  # ... but FD at the floor
    assert cheat["entropy"].value > 2.2 and cheat["confident"].value > 0.99    # the judge is fooled
    assert cheat["recall"].value < 0.05 and cheat["coverage"].value < 0.1      # no variety
    assert cheat["fd"].value > 10 * copier["fd"].value


def test_copying_generator_draws_training_digits_from_z(data):
    x, y, _, _ = data
    G = S.CopyingGenerator(x[:100])
    out = G(torch.randn(64, 100, generator=torch.Generator().manual_seed(0)))
    assert out.shape == (64, 1, 28, 28)
    flat = x[:100].flatten(1)
    assert all(bool((flat == o.flatten()).all(dim=1).any()) for o in out)
    cheat = S.OnePerClassGenerator.from_data(x, y)
    assert [int(y[(x.flatten(1) == im.flatten()).all(1)][0]) for im in cheat.images] == list(range(10))


def test_a_tensor_of_samples_is_scored_like_the_generator(data):
    x, _, _, _ = data
    G = S.CopyingGenerator(x)
    n = S.protocol()["n"]
    samples = metrics.sample_generator(G, n, seed=0)
    a, b = S.score(G, "G"), S.score(samples, "samples")
    assert a.metrics == b.metrics
    with pytest.raises(ValueError, match="depends on"):
        S.score(samples[:10], "too few")


def test_the_table_on_disk(tmp_path, rows, monkeypatch):
    board = S.Scoreboard.open(tmp_path, quiet=True)
    assert "no table yet" in board.message and board.rows == []
    board.put(rows["cheat"])
    board.put(rows["copier"])
    board.put(rows["copier"])  # the same name replaces
    again = S.Scoreboard.open(tmp_path, quiet=True)
    assert [r.name for r in again.rows] == ["cheat", "copier"]
    assert again.rows[1].metrics == rows["copier"].metrics and again.reference == board.reference
    assert [r.name for r in again.ranked()] == ["copier", "cheat"]  # by FD, lowest first
    assert (tmp_path / f"scoreboard-{runtime.mode_name()}.json").exists()

    md = again.to_markdown()
    lines = md.splitlines()
    assert "References" in lines[0] and lines[2].startswith("| # | generator | confident %")
    assert lines[4].startswith("| 1 | copier") and lines[5].startswith("| 2 | cheat")
    assert lines[4].count("|") == len(S.COLUMNS) + 3 and "–" in lines[4]
    text = again.to_text()
    assert text.splitlines()[2].startswith("copier") and "–" in text.splitlines()[3]
    assert repr(again) == text and again._repr_markdown_() == md

    again.remove("cheat")
    assert [r.name for r in S.Scoreboard.open(tmp_path, quiet=True).rows] == ["copier"]


def test_rows_of_another_mode_judge_or_protocol_are_set_aside(tmp_path, rows, monkeypatch):
    board = S.Scoreboard.open(tmp_path, quiet=True)
    board.put(rows["copier"])
    path = board.path
    blob = json.loads(path.read_text())
    for change, words in [({"judge": "0" * 16}, "another judge"), ({"mode": "elsewhere"}, "mode"),
                          ({"protocol": {**blob["protocol"], "n": 7}}, "another protocol")]:
        path.write_text(json.dumps({**blob, **change}))
        other = S.Scoreboard.open(tmp_path, quiet=True)
        assert other.rows == [] and "set aside" in other.message and words in other.message
    path.write_text("{not json")
    assert "unreadable" in S.Scoreboard.open(tmp_path, quiet=True).message
    # quick and full mode keep separate files
    monkeypatch.setenv(runtime.QUICK_ENV, "" if runtime.is_quick() else "1")
    other_mode = S.Scoreboard.open(tmp_path, quiet=True)
    assert other_mode.path != path and other_mode.rows == []
    with pytest.raises(ValueError, match="protocol scores"):
        other_mode.put(rows["copier"])


def test_course_generator_loads_a_matching_run_else_the_shipped_one(tmp_path, data, monkeypatch):
    from gan_course import models
    from gan_course.recipes import default_config
    from gan_course.training import train_gan

    x = data[0][:256]
    cfg = default_config("mlp", ema=None, steps=3, quick_steps=3, progress=False, sample_every=10**6,
                         checkpoint_every=10**6)
    G, D = models.build_gan("mlp")
    train_gan(G, D, x, cfg, out_dir=tmp_path / "run", device="cpu")
    got, where = S.course_generator("mlp", tmp_path / "run", cfg, x, "cpu")
    assert where.startswith("loaded") and all(torch.equal(a, b) for a, b in zip(got.state_dict().values(), G.state_dict().values()))
    other = default_config("mlp", lr_g=3e-4)
    got, where = S.course_generator("mlp", tmp_path / "run", other, x, "cpu")
    assert where.startswith("the shipped mlp generator") and "lr_g" in where
    monkeypatch.setattr(models, "pretrained_path", lambda arch: tmp_path / "missing.pt")
    got, where = S.course_generator("mlp", tmp_path / "nothing", cfg, x, "cpu", train_steps=2)
    assert where.startswith("trained here for 2 steps") and not got.training
