"""The live dashboard: harmless and free outside notebooks, rate-limited, leaves no pyplot
figures, updates one display in place, and run by nbclient stores exactly one image."""

import time

import matplotlib

matplotlib.use("Agg")  # tests only; never set for notebook kernels

import matplotlib.pyplot as plt  # noqa: E402
import nbformat  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from gan_course import live  # noqa: E402
from gan_course.models import MLPDiscriminator, MLPGenerator  # noqa: E402
from gan_course.toy import get_toy  # noqa: E402
from gan_course.training import History  # noqa: E402


def _history(n=60, with_samples=True):
    h = History(step=list(range(1, n + 1)), loss_d=[1.3] * n, loss_g=[0.8] * n,
                d_real=[0.6] * n, d_fake=[0.4] * n)
    if with_samples:
        h.samples = [(n, torch.rand(16, 1, 28, 28) * 2 - 1)]
    h.seconds = 12.0
    return h


def test_outside_ipython_it_does_nothing_and_leaves_no_figures():
    assert not live.in_notebook_kernel()
    dash = live.LiveDashboard(every_s=0)
    for step in (20, 40, 60):
        assert dash(step, _history(step), None, None) is None
    dash.finish()
    assert dash.calls == 3 and dash.draws == 0 and plt.get_fignums() == []


def test_with_a_path_it_draws_at_most_every_every_s(tmp_path):
    path = tmp_path / "dash.png"
    dash = live.LiveDashboard(every_s=3600, path=path)
    dash(20, _history(20), None, None)
    assert dash.draws == 1 and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    dash(40, _history(40), None, None)   # within the hour: skipped, kept as pending
    assert dash.draws == 1
    dash.finish()                        # ... and drawn by finish()
    assert dash.draws == 2
    dash.finish()                        # nothing pending: no extra drawing
    assert dash.draws == 2
    final = _history(60)
    final.stopped_reason = "finished"    # train_gan's call after the loop always draws
    dash(60, final, None, None)
    assert dash.draws == 3 and plt.get_fignums() == []


def test_render_panels_for_digits_and_for_toy_data(tmp_path):
    fig = live.LiveDashboard().render(60, _history(), None, None)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["losses", "discriminator outputs", "fixed-noise samples, step 60"]
    assert "step 60" in fig._suptitle.get_text() and "loss_D 1.300" in fig._suptitle.get_text()
    empty = live.LiveDashboard().render(1, _history(1, with_samples=False), None, None)
    assert empty.axes[2].texts[0].get_text() == "no samples yet"
    torch.manual_seed(0)
    G = MLPGenerator(latent_dim=4, hidden=(16,), out_shape=(2,), out_activation=None)
    D = MLPDiscriminator(in_shape=(2,), hidden=(16,))
    dash = live.LiveDashboard(data=get_toy("ring"), path=tmp_path / "toy.png", every_s=0)
    dash(60, _history(), G, D)
    assert dash.draws == 1 and (tmp_path / "toy.png").stat().st_size > 1000
    assert plt.get_fignums() == []


def test_in_a_kernel_it_updates_one_display_in_place(monkeypatch):
    import IPython.display

    calls = []

    class Handle:
        def update(self, obj):
            calls.append(("update", obj))

    def fake_display(obj, display_id=False):
        calls.append(("display", obj))
        assert display_id is True
        return Handle()

    monkeypatch.setattr(IPython.display, "display", fake_display)
    dash = live.LiveDashboard(every_s=0)
    dash.in_kernel = True
    for step in (20, 40, 60):
        dash(step, _history(step), None, None)
    assert [c[0] for c in calls] == ["display", "update", "update"]
    assert all(isinstance(c[1], IPython.display.Image) for c in calls)
    assert plt.get_fignums() == []


def test_rate_limit_bounds_the_cost(monkeypatch):
    dash = live.LiveDashboard(every_s=0.5, path=None)
    dash.in_kernel = True
    monkeypatch.setattr(dash, "_draw", lambda *a: setattr(dash, "draws", dash.draws + 1)
                        or setattr(dash, "_last_draw", time.monotonic()))
    for step in range(100):  # 100 calls in a fraction of a second: one drawing
        dash(step, _history(5, with_samples=False), None, None)
    assert dash.draws == 1 and dash._pending is not None


def test_under_nbclient_the_stored_notebook_has_one_final_image():
    nbclient = pytest.importorskip("nbclient")
    code = (
        "import torch\n"
        "from gan_course.live import LiveDashboard\n"
        "from gan_course.training import History\n"
        "import matplotlib.pyplot as plt\n"
        "dash = LiveDashboard(every_s=0)\n"
        "for n in (10, 20, 30):\n"
        "    h = History(step=list(range(1, n + 1)), loss_d=[1.3] * n, loss_g=[0.8] * n,\n"
        "                d_real=[0.6] * n, d_fake=[0.4] * n)\n"
        "    h.samples = [(n, torch.zeros(4, 1, 28, 28))]\n"
        "    dash(n, h, None, None)\n"
        "print(dash.in_kernel, dash.draws, len(plt.get_fignums()))\n"
    )
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
    nbclient.NotebookClient(nb, timeout=300, kernel_name="python3").execute()
    outputs = nb.cells[0].outputs
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    texts = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert len(images) == 1, outputs
    assert texts.strip() == "True 3 0"


def test_dashboard_uses_the_course_colours_and_margin_labels():
    from matplotlib.colors import to_rgba

    from gan_course import plotting

    fig = live.LiveDashboard().render(60, _history(), None, None)
    ax_loss, ax_d, _ = fig.axes
    for ax in (ax_loss, ax_d):  # equilibrium labels on a right-hand axis, out of the curves' way
        assert len(ax.child_axes) == 1
    colors = {line.get_label(): line.get_color() for line in ax_d.lines}
    assert colors["D(x), real"] == plotting.REAL_COLOR
    assert colors["D(G(z)), fake"] == plotting.FAKE_COLOR
    # 2-D points without toy data: drawn as fakes
    h = _history(with_samples=False)
    h.samples = [(60, torch.randn(20, 2))]
    fig = live.LiveDashboard().render(60, h, None, None)
    assert tuple(fig.axes[2].collections[0].get_facecolor()[0]) == to_rgba(plotting.FAKE_COLOR)
    torch.manual_seed(0)
    G = MLPGenerator(latent_dim=4, hidden=(16,), out_shape=(2,), out_activation=None)
    D = MLPDiscriminator(in_shape=(2,), hidden=(16,))
    fig = live.LiveDashboard(data=get_toy("ring")).render(60, _history(), G, D)
    assert f"{plotting.REAL_NAME}: real" in fig.axes[2].get_title()
    assert fig.axes[2].collections[0].get_cmap() is plotting.D_CMAP


def test_the_dashboard_says_what_diagnose_says():
    from gan_course.diagnose import diagnose

    dash = live.LiveDashboard()
    h = _history(60)
    fig = dash.render(60, h, None, None)
    assert dash.last_diagnosis.label == "healthy"
    assert fig._supxlabel.get_text().replace("\n", " ") == diagnose(h).sentence
    n = 200  # D wins: the sentence turns red
    losing = History(step=list(range(1, n + 1)), loss_d=[0.01] * n, loss_g=[6.0] * n,
                     d_real=[0.99] * n, d_fake=[0.01] * n, grad_norm_g=[5.0] * n)
    fig = dash.render(n, losing, None, None)
    assert dash.last_diagnosis.label == "D winning"
    assert fig._supxlabel.get_color() != "0.15" and "D is winning" in fig._supxlabel.get_text()
    # 2-D points (toy data) are not digits: the curves alone are read
    h2 = _history(60, with_samples=False)
    h2.samples = [(60, torch.zeros(64, 2))]
    dash.render(60, h2, None, None)
    assert dash.last_diagnosis.label == "healthy"
