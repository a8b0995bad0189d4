"""Every notebook in a real JupyterLab 4, in headless Chromium, in quick mode.

For each ``notebooks/[0-9]*.ipynb`` (found at collection time, so a new notebook is tested
without touching this file) the test opens the notebook in JupyterLab, runs all cells, and
checks what a student would see:

- no cell shows an error (an ``error`` output, or a traceback printed to stderr);
- every figure rendered: each image output is an ``<img>`` that loaded, and every cell whose
  stored outputs hold a figure shows one after the run;
- every widget rendered: each widget output shows a widget, never "Error displaying widget"
  nor an endless "Loading widget...", and every cell stored with a widget shows one;
- every widget answers: each control (slider, dropdown, ...) is moved through the page, as a
  mouse or keyboard would, and what the widget shows (its figure, its printed text) changes.

nbval runs the same notebooks in a bare kernel; only a browser sees a widget that does not
render, a figure that does not load, or a callback that raises on the first slider move.
The server is a :class:`jupyterlab_server.LabServer` over a copy of the notebooks.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jupyterlab_server import REPO, LabServer

try:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
except ImportError:  # the `browser` fixture skips every test here and says how to install it
    PlaywrightTimeout = TimeoutError

pytestmark = pytest.mark.browser

NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9]*.ipynb"))
IMAGE_MIME = "image/png"
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
RUN_ALL_TIMEOUT_S = 900  # quick mode runs a notebook in well under a minute here
WIDGET_TIMEOUT_S = 120  # one control change redraws (notebook 04's retrains for 20 steps)


@pytest.fixture(scope="module")
def lab():
    with LabServer(extra_env={"GAN_COURSE_QUICK": "1"}) as server:
        yield server


def stored_cells(path: Path) -> list[dict]:
    """Per non-empty code cell of the stored notebook: which kinds of output it holds."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    cells = []
    for cell in nb["cells"]:
        if cell["cell_type"] != "code" or not "".join(cell["source"]).strip():
            continue
        mimes = {m for out in cell.get("outputs", []) for m in out.get("data", {})}
        cells.append({"figure": IMAGE_MIME in mimes, "widget": WIDGET_MIME in mimes})
    return cells


# JavaScript run in the page. `jupyterapp` is exposed by --LabApp.expose_app_in_browser.
# wait_for_function wants a plain truthy value (a Promise counts as true), hence no async here
OPEN_NOTEBOOK_JS = """(path) => {
    const app = window.jupyterapp;
    const panel = app && app.shell.currentWidget;
    if (!panel || !panel.context || panel.context.path !== path) return false;
    const session = panel.sessionContext;
    return panel.context.isReady && session.isReady && !!(session.session && session.session.kernel);
}"""

RUN_ALL_JS = """async (timeoutMs) => {
    const app = window.jupyterapp;
    const run = app.commands.execute('notebook:run-all-cells');
    const timeout = new Promise((_, reject) => setTimeout(
        () => reject(new Error('run-all-cells did not finish within ' + timeoutMs / 1000 + ' s')),
        timeoutMs));
    return await Promise.race([run, timeout]);
}"""

KERNEL_IDLE_JS = """() => {
    const panel = window.jupyterapp.shell.currentWidget;
    const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
    return !!kernel && kernel.status === 'idle';
}"""

# What each code cell holds after the run: its outputs in the model (the notebook file's
# view) and in the page (what the student sees). Widget roots get a data-test-widget mark so
# Python can find them again with a locator.
CELL_REPORT_JS = """() => {
    const panel = window.jupyterapp.shell.currentWidget;
    const cells = panel.content.widgets.filter(
        c => c.model.type === 'code' && c.model.sharedModel.getSource().trim() !== '');
    let widgetIndex = 0;
    return cells.map((cell, i) => {
        const outputs = cell.model.outputs.toJSON();
        const errors = [];
        for (const out of outputs) {
            if (out.output_type === 'error') errors.push(out.ename + ': ' + out.evalue);
            const text = Array.isArray(out.text) ? out.text.join('') : (out.text || '');
            if (out.output_type === 'stream' && out.name === 'stderr' &&
                text.includes('Traceback (most recent call last)')) {
                errors.push('traceback on stderr: ' + text.slice(-300));
            }
        }
        const images = Array.from(cell.node.querySelectorAll('.jp-OutputArea-output img'));
        const widgetOutputs = Array.from(cell.node.querySelectorAll(
            '.jp-Cell-outputArea > .jp-OutputArea-child > .jp-OutputArea-output'))
            .filter(el => el.querySelector('.jupyter-widgets') ||
                          /Error displaying widget|Loading widget/.test(el.innerText));
        const widgets = widgetOutputs.map(el => {
            const id = 'w' + (widgetIndex++);
            el.dataset.testWidget = id;
            return {id, text: el.innerText.slice(0, 300),
                    interactive: !!el.querySelector('.widget-interact'),
                    rendered: !!el.querySelector('.jupyter-widgets') &&
                              !/Error displaying widget|Loading widget/.test(el.innerText)};
        });
        return {
            index: i,
            count: cell.model.executionCount,
            errors,
            figureOutputs: outputs.filter(o => o.data && o.data['image/png']).length,
            widgetOutputs: outputs.filter(
                o => o.data && o.data['application/vnd.jupyter.widget-view+json']).length,
            images: images.map(img => ({loaded: img.complete && img.naturalWidth > 0})),
            widgets,
        };
    });
}"""

# What a widget shows, apart from its own controls: its images and the text of its Output
# areas. A slider's readout is left out on purpose: it changes whenever the slider moves, so
# counting it would let a widget whose figure never redraws pass.
WIDGET_SHOWS_JS = """(root) => ({
    images: Array.from(root.querySelectorAll('img')).map(img => img.src),
    text: Array.from(root.querySelectorAll('.widget-output')).map(el => el.innerText),
})"""

# The widget has redrawn after a change: what it shows differs from `before`, the kernel is
# idle again (an Output widget is cleared before it is redrawn: that half-way state must not
# count), it shows at least as many images as before and all of them loaded.
WIDGET_REDRAWN_JS = """([root, before]) => {
    const panel = window.jupyterapp.shell.currentWidget;
    const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
    if (!root.isConnected || !kernel || kernel.status !== 'idle') return false;
    const images = Array.from(root.querySelectorAll('img'));
    if (images.length < before.images.length) return false;
    if (!images.every(img => img.complete && img.naturalWidth > 0)) return false;
    const now = {images: images.map(img => img.src),
                 text: Array.from(root.querySelectorAll('.widget-output')).map(el => el.innerText)};
    return JSON.stringify(now) !== JSON.stringify(before);
}"""

WIDGET_ERRORS_JS = """(root) => Array.from(root.querySelectorAll('.widget-output'))
    .map(el => el.innerText).filter(t => t.includes('Traceback')).map(t => t.slice(-400))"""

# The controls a student can move, by the classes ipywidgets 8 gives their views.
CONTROLS = {
    "slider": ".widget-slider .noUi-handle",
    "dropdown": ".widget-dropdown select",
    "select": ".widget-select select",
    "toggle buttons": ".widget-toggle-buttons",
    "radio buttons": ".widget-radio-box",
    "checkbox": ".widget-checkbox input[type=checkbox]",
}
# Form elements of a widget that none of CONTROLS covers (a text box, a button): the test
# cannot move them, so it says so instead of passing the widget with one control untried.
UNKNOWN_CONTROLS_JS = """(root) => Array.from(root.querySelectorAll('input, select, textarea, button'))
    .filter(el => !el.closest('.widget-output') && !el.closest(
        '.widget-slider, .widget-dropdown, .widget-select, .widget-toggle-buttons, '
        + '.widget-radio-box, .widget-checkbox'))
    .map(el => el.outerHTML.slice(0, 120))"""


def move(page, kind: str, control) -> str:
    """Change one control through the page's DOM, as a student's keyboard or mouse would;
    returns what was done, for the failure message."""
    if kind == "slider":
        # noUiSlider's keyboard steps: one step right, or left from the maximum. A change
        # from the keyboard fires the slider's 'change' event, which ipywidgets 8 sends to
        # the kernel also with continuous_update=False.
        now = float(control.get_attribute("aria-valuenow"))
        top = float(control.get_attribute("aria-valuemax"))
        key = "ArrowLeft" if now >= top else "ArrowRight"
        control.focus()
        page.keyboard.press(key)
        return f"slider at {now:g}, pressed {key}"
    if kind in ("dropdown", "select"):
        options = control.locator("option").all_inner_texts()
        current = control.evaluate("el => el.selectedIndex")
        if len(options) < 2:
            raise AssertionError(f"{kind} has only the options {options}: nothing to change to")
        target = options[(current + 1) % len(options)]
        control.select_option(label=target)
        return f"{kind}: picked {target!r} instead of {options[current]!r}"
    if kind in ("toggle buttons", "radio buttons"):
        choices = control.locator("button, input[type=radio]")
        n = choices.count()
        if n < 2:
            raise AssertionError(f"{kind} offers {n} choice(s): nothing to change to")
        for i in range(n):
            item = choices.nth(i)
            selected = item.evaluate(
                "el => el.checked === true || el.classList.contains('mod-active')")
            if not selected:
                item.click()
                return f"{kind}: chose option {i}"
        raise AssertionError(f"every one of the {kind}' {n} choices is already selected")
    if kind == "checkbox":
        control.click()
        return "checkbox: toggled"
    raise ValueError(f"no way to move a {kind}")


def exercise_widget(page, root, interactive: bool) -> list[str]:
    """Move every control of one widget in turn; each move must change what it shows.
    A widget without controls (a progress bar) has nothing to move; an ``interact`` always
    has controls, so finding none there means the selectors no longer match ipywidgets."""
    problems = []
    controls = [(kind, c) for kind, sel in CONTROLS.items() for c in root.locator(sel).all()]
    if interactive and not controls:
        problems.append(f"an interactive widget, but none of its controls matched "
                        f"{list(CONTROLS)}: teach CONTROLS and move() the new kind of control")
    problems += [f"a control the test cannot move: {html}; teach CONTROLS and move() it"
                 for html in root.evaluate(UNKNOWN_CONTROLS_JS)]
    for kind, control in controls:
        control.scroll_into_view_if_needed()
        before = root.evaluate(WIDGET_SHOWS_JS)
        try:
            done = move(page, kind, control)
        except AssertionError as err:
            problems.append(str(err))
            continue
        try:
            page.wait_for_function(WIDGET_REDRAWN_JS, arg=[root.element_handle(), before],
                                   timeout=WIDGET_TIMEOUT_S * 1000, polling=100)
        except PlaywrightTimeout:
            problems.append(f"{done}: what the widget shows did not change within "
                            f"{WIDGET_TIMEOUT_S} s")
        for tb in root.evaluate(WIDGET_ERRORS_JS):
            problems.append(f"{done}: the widget printed a traceback: ...{tb}")
    return problems


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_in_jupyterlab(browser, lab, path):
    rel = f"notebooks/{path.name}"
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page_errors = []
    page.on("pageerror", lambda err: page_errors.append(str(err)))
    try:
        # ?reset: open only this notebook, not the tabs an earlier test left in the workspace
        page.goto(lab.url(f"lab/tree/{rel}?reset"), wait_until="domcontentloaded")
        try:
            page.wait_for_function(OPEN_NOTEBOOK_JS, arg=rel, timeout=120_000, polling=500)
        except PlaywrightTimeout:
            pytest.fail(f"{path.name} did not open with a running kernel within 120 s (does "
                        "its metadata name the python3 kernel?); server log:\n"
                        + lab.log_tail(), pytrace=False)
        problems = []
        if not page.evaluate(RUN_ALL_JS, RUN_ALL_TIMEOUT_S * 1000):
            problems.append("run-all-cells stopped early: a cell raised (see below)")
        page.wait_for_function(KERNEL_IDLE_JS, timeout=120_000, polling=250)
        # outputs arrive as messages: let the page draw the last of them and the widgets
        page.wait_for_function(
            """() => !Array.from(document.querySelectorAll('.jp-OutputArea-output'))
                .some(el => /Loading widget/.test(el.innerText))""", timeout=60_000)
        cells = page.evaluate(CELL_REPORT_JS)
        problems += check_cells(path, cells)
        for cell in cells:
            for widget in cell["widgets"]:
                if widget["rendered"]:
                    root = page.locator(f"[data-test-widget={widget['id']}]")
                    problems += [f"cell {cell['index']} (count {cell['count']}): widget: {p}"
                                 for p in exercise_widget(page, root, widget["interactive"])]
        problems += [f"JavaScript error in the page: {e}" for e in page_errors]
        assert not problems, f"{path.name} in JupyterLab:\n" + "\n".join(problems)
    finally:
        try:
            page.evaluate("() => window.jupyterapp.shell.currentWidget.sessionContext.shutdown()")
        except Exception:
            pass  # the server's shutdown stops any kernel left running
        context.close()


def check_cells(path: Path, cells: list[dict]) -> list[str]:
    """Errors, figures and widgets of the run against what the stored notebook holds."""
    problems = []
    stored = stored_cells(path)
    if len(stored) != len(cells):
        problems.append(f"JupyterLab shows {len(cells)} non-empty code cells, the file "
                        f"holds {len(stored)}")
    for cell, ref in zip(cells, stored):
        where = f"cell {cell['index']} (count {cell['count']})"
        if cell["count"] is None:
            problems.append(f"{where}: not executed")
        problems += [f"{where}: {e}" for e in cell["errors"]]
        if ref["figure"] and not cell["figureOutputs"]:
            problems.append(f"{where}: the stored notebook shows a figure here, the run none")
        bad = [i for i, img in enumerate(cell["images"]) if not img["loaded"]]
        if bad:
            problems.append(f"{where}: {len(bad)} of {len(cell['images'])} images did not load")
        if len(cell["images"]) < cell["figureOutputs"]:
            problems.append(f"{where}: {cell['figureOutputs']} figure outputs but only "
                            f"{len(cell['images'])} images in the page")
        if ref["widget"] and not cell["widgetOutputs"]:
            problems.append(f"{where}: the stored notebook shows a widget here, the run none")
        if len(cell["widgets"]) < cell["widgetOutputs"]:
            problems.append(f"{where}: {cell['widgetOutputs']} widget outputs but only "
                            f"{len(cell['widgets'])} widgets in the page")
        for widget in cell["widgets"]:
            if not widget["rendered"]:
                problems.append(f"{where}: a widget did not render: {widget['text']!r}")
    return problems
