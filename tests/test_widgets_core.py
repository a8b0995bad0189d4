"""Every widget builder returns an Explorer: its plain text says what it is and what to do
(what GitHub, nbviewer and HTML exports show), while its bundle still carries the live
widget view, and a headless kernel run stores both and renders the default once."""

import matplotlib

matplotlib.use("Agg")  # tests only: no display here (notebooks never set a backend)

import ipywidgets  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import nbformat  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from gan_course import widgets  # noqa: E402
from gan_course.data import load_mnist  # noqa: E402
from gan_course.models import MLPGenerator  # noqa: E402

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


def _tiny_G():
    torch.manual_seed(0)
    return MLPGenerator(latent_dim=8, hidden=(16,)).eval()


# every public builder, with cheap arguments, and the words its text must contain
BUILDERS = {
    "conv_explorer": (lambda: widgets.conv_explorer(load_mnist("subset").x_train[0]),
                      "convolution explorer"),
    "generator_gradient_field": (lambda: widgets.generator_gradient_field(max_steps=25),
                                 "the gradient D hands to G"),
    "minimax_explorer": (widgets.minimax_explorer, "minimax game"),
    "toy_gan_trainer": (lambda: widgets.toy_gan_trainer(steps=3), "GAN on 2-D data"),
    "pretrained_digits": (lambda: widgets.pretrained_digits(_tiny_G(), n=4), "digits"),
    "latent_explorer": (lambda: widgets.latent_explorer(_tiny_G()), "latent explorer"),
}


@pytest.mark.parametrize("name", list(BUILDERS))
def test_plain_text_says_what_it_is_and_the_view_is_kept(name):
    build, words = BUILDERS[name]
    w = build()
    assert isinstance(w, widgets.Explorer) and isinstance(w, ipywidgets.interactive)
    assert w.result is not None  # drawn once with the defaults when built
    bundle = w._repr_mimebundle_()
    text = bundle["text/plain"]
    assert text.startswith("interactive widget: ") and words in text
    assert "run the notebook to " in text and "static figure" in text
    assert "interactive(children" not in text and "…" not in text  # not cut at 110 chars
    assert repr(w) == text
    assert bundle[WIDGET_MIME]["model_id"] == w.model_id  # JupyterLab still gets the widget
    assert plt.get_fignums() == []  # every drawn figure was closed


def test_under_nbclient_the_stored_output_is_the_text_and_the_widget():
    """The way `make notebooks` stores a widget cell: the text for static readers, the
    widget view for JupyterLab, the default figure inside the widget's saved state."""
    nbclient = pytest.importorskip("nbclient")
    code = "from gan_course import widgets\nwidgets.minimax_explorer()\n"
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
    nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                            store_widget_state=True).execute()
    (out,) = nb.cells[0].outputs
    assert out.output_type == "execute_result"
    assert out.data["text/plain"].startswith("interactive widget: the minimax game")
    model_id = out.data[WIDGET_MIME]["model_id"]
    state = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    assert model_id in state
    images = [o for m in state.values() if m["model_name"] == "OutputModel"
              for o in m["state"].get("outputs", []) if "image/png" in o.get("data", {})]
    assert len(images) == 1  # the default draw ran once, inside the widget's Output
