"""The static site of `make html` (scripts/build_site.py): built once into a temporary folder,
checked as files, then opened in headless Chromium with every request to another host
aborted and recorded, as a reader without a network would open it.

In the browser: no request leaves 127.0.0.1, every image loads, MathJax typesets every
``$...$`` (none is left as raw TeX, none is a MathJax error), and every link inside the
site leads to a page that exists (and to the heading it names). Links to the repository on
GitHub, Binder and Colab must name files that exist in this checkout.
"""

from __future__ import annotations

import functools
import html
import http.server
import importlib.util
import json
import re
import sys
import threading
import urllib.parse
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9]*.ipynb"))


def _load_build_site():
    path = REPO / "scripts" / "build_site.py"
    spec = importlib.util.spec_from_file_location("build_site", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


build_site = _load_build_site()
GITHUB_FILE = re.compile(re.escape(build_site.GITHUB) + r"/(?:blob|tree)/"
                         + re.escape(build_site.BRANCH) + r"/([^#?]+)")
# Hosts that serve JavaScript, CSS or fonts to pages. None of them may appear in the site.
CDN_HOSTS = ("cdnjs.cloudflare.com", "unpkg.com", "cdn.jsdelivr.net", "jsdelivr.net",
             "ajax.googleapis.com", "fonts.googleapis.com", "fonts.gstatic.com",
             "cdn.mathjax.org", "code.jquery.com", "cdn.plot.ly", "stackpath.bootstrapcdn.com")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site") / "site"
    build_site.build(out)
    return out


def pages(site: Path) -> list[Path]:
    return sorted(site.glob("*.html"))


def notebook_markdown(path: Path) -> str:
    nb = json.loads(path.read_text(encoding="utf-8"))
    return "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")


# --------------------------------------------------------------------------- the files

def test_every_notebook_has_a_page_and_an_index_row_with_both_badges(site):
    index = (site / "index.html").read_text(encoding="utf-8")
    assert NOTEBOOKS, "no notebooks found"
    for nb in NOTEBOOKS:
        page = build_site.page_name(nb.name)
        assert (site / page).is_file(), f"no page for {nb.name}"
        assert f'href="{page}"' in index, f"the index does not link to {page}"
        assert html.escape(build_site.binder_url(nb.name)) in index, f"no Binder badge for {nb.name}"
        assert html.escape(build_site.colab_url(nb.name)) in index, f"no Colab badge for {nb.name}"
    assert index.count('src="badges/binder.svg"') == len(NOTEBOOKS)
    assert index.count('src="badges/colab.svg"') == len(NOTEBOOKS)
    for badge in build_site.BADGES:
        assert (site / badge).read_text().startswith("<svg")


def test_every_notebook_page_keeps_the_notebooks_own_badges(site):
    for nb in NOTEBOOKS:
        text = notebook_markdown(nb)
        page = (site / build_site.page_name(nb.name)).read_text(encoding="utf-8")
        if "mybinder.org/badge" in text:
            assert 'src="badges/binder.svg"' in page, f"{nb.name}: Binder badge lost"
        if "colab-badge.svg" in text:
            assert 'src="badges/colab.svg"' in page, f"{nb.name}: Colab badge lost"


def test_no_cdn_url_in_any_file_of_the_site(site):
    # One exception, checked in the browser by test_math_accessibility_explorer_stays_offline:
    # the speech rule engine's default rule-file URL, which MathJax overrides with its copy.
    allowed = {Path("mathjax/extensions/a11y/mathjax-sre.js"): {"cdn.jsdelivr.net", "jsdelivr.net"}}
    found = []
    for path in sorted(site.rglob("*")):
        if path.is_file() and path.suffix in (".html", ".js", ".css", ".svg", ".json"):
            text = path.read_text(encoding="utf-8", errors="replace")
            hosts = {h for h in CDN_HOSTS if h in text} - allowed.get(path.relative_to(site), set())
            found += [f"{path.relative_to(site)}: {h}" for h in sorted(hosts)]
    assert not found, "CDN hosts named in the site:\n" + "\n".join(found)


def test_no_remote_script_style_or_image(site):
    remote = re.compile(r"""<(?:script|img|iframe|source|video|audio)\b[^>]*\bsrc\s*=\s*["']?(?:https?:)?//"""
                        r"""|<link\b[^>]*\bhref\s*=\s*["']?(?:https?:)?//|@import\s+(?:url\()?["']?(?:https?:)?//""",
                        re.I)
    for page in pages(site):
        text = page.read_text(encoding="utf-8")
        m = remote.search(text)
        assert not m, f"{page.name} loads a remote resource: {text[m.start():m.start() + 120]!r}"
        if page.name != "index.html":
            assert '<script src="mathjax/MathJax.js?config=' in text, f"{page.name}: no MathJax"
    assert (site / "mathjax" / "MathJax.js").is_file()
    assert (site / "mathjax" / "config" / f"{build_site.MATHJAX_CONFIG}.js").is_file()


def test_links_between_notebooks_become_page_links(site):
    for nb in NOTEBOOKS:
        page = (site / build_site.page_name(nb.name)).read_text(encoding="utf-8")
        relative_ipynb = re.findall(r'href="(?![a-z]+:)[^"]*\.ipynb(?:#[^"]*)?"', page)
        assert not relative_ipynb, f"{nb.name}: links still to notebooks: {relative_ipynb}"
        for target in re.findall(r"\]\((\d\d_[A-Za-z0-9_]+)\.ipynb", notebook_markdown(nb)):
            assert f'href="{target}.html' in page, f"{nb.name}: link to {target}.ipynb lost"


def test_widgets_become_static_notes_and_progress_lines():
    models = {
        "i": {"model_name": "VBoxModel", "state": {"_dom_classes": ["widget-interact"],
                                                   "children": ["IPY_MODEL_s"]}},
        "s": {"model_name": "IntSliderModel", "state": {"value": 3}},
        "bar": {"model_name": "HBoxModel", "state": {"children": [
            "IPY_MODEL_left", "IPY_MODEL_p", "IPY_MODEL_right"]}},
        "left": {"model_name": "HTMLModel", "state": {"value": "training"}},
        "p": {"model_name": "FloatProgressModel", "state": {"value": 12000.0, "max": 12000.0}},
        "right": {"model_name": "HTMLModel", "state": {"value": " 12000/12000 [05:00&lt;00:00]"}},
    }
    nb = {"metadata": {"widgets": {build_site.WIDGET_STATE: {"state": models}}}, "cells": [
        {"cell_type": "code", "outputs": [
            {"output_type": "display_data", "data": {build_site.WIDGET_VIEW: {"model_id": m},
                                                     "text/plain": "interactive(...)"}}]}
        for m in ("i", "bar", "gone")]}
    out = build_site.staticize_widgets(nb)
    shown = [c["outputs"][0]["data"] for c in out["cells"]]
    assert all(list(d) == ["text/html"] for d in shown), "widget JSON or repr left behind"
    assert "an interactive figure" in shown[0]["text/html"]
    assert '<progress value="12000.0" max="12000.0">' in shown[1]["text/html"]
    assert "12000/12000 [05:00&lt;00:00]" in shown[1]["text/html"]
    assert "needs a running Python kernel" in shown[2]["text/html"]
    assert "widgets" not in out["metadata"]


def _rewriter(problems):
    nb = REPO / "notebooks" / "00_welcome.ipynb"
    return build_site.Rewriter(nb, {"00_welcome.ipynb", "01_cnn_layer_math.ipynb"}, REPO, problems)


def test_rewriter_maps_each_kind_of_link():
    problems = []
    rw = _rewriter(problems)
    gh = f"{build_site.GITHUB}/blob/{build_site.BRANCH}"
    assert rw.href("01_cnn_layer_math.ipynb#Setup") == "01_cnn_layer_math.html#Setup"
    assert rw.href("./01_cnn_layer_math.ipynb") == "01_cnn_layer_math.html"
    assert rw.href("../solutions/nb00_welcome.py") == f"{gh}/solutions/nb00_welcome.py"
    assert rw.href("../gan_course/assets/PRETRAINED.md#mlp") == \
        f"{gh}/gan_course/assets/PRETRAINED.md#mlp"
    assert rw.href("../gan_course") == f"{build_site.GITHUB}/tree/{build_site.BRANCH}/gan_course"
    for same in ("https://arxiv.org/abs/1406.2661", "#Summary", "mailto:a@b.c"):
        assert rw.href(same) == same
    assert rw.src("https://mybinder.org/badge_logo.svg") == "badges/binder.svg"
    assert rw.src("https://colab.research.google.com/assets/colab-badge.svg") == "badges/colab.svg"
    assert rw.src("data:image/png;base64,AAAA") == "data:image/png;base64,AAAA"
    assert problems == []
    rw.href("../solutions/no_such_file.py")
    rw.href("../../elsewhere.txt")
    rw.src("https://example.org/figure.png")
    assert len(problems) == 3
    assert "does not exist" in problems[0] and "outside the repository" in problems[1]
    assert "would not load offline" in problems[2]


def test_rewrite_links_changes_only_the_attributes():
    text = ('<p>$a&lt;b$ <a class="x" href="01_cnn_layer_math.ipynb#Top">next</a> '
            "<a href='https://arxiv.org'>paper</a>\n<img alt=\"b\" "
            'src="https://mybinder.org/badge_logo.svg"/> <code>href="02.ipynb"</code></p>')
    problems = []
    out = build_site.rewrite_links(text, _rewriter(problems))
    assert out == text.replace("01_cnn_layer_math.ipynb#Top", "01_cnn_layer_math.html#Top") \
                      .replace("https://mybinder.org/badge_logo.svg", "badges/binder.svg")
    assert problems == []


def _tiny_repo(tmp_path: Path, markdown: str) -> Path:
    import nbformat

    (tmp_path / "notebooks").mkdir(parents=True)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(markdown)])
    nbformat.write(nb, tmp_path / "notebooks" / "00_tiny.ipynb")
    (tmp_path / "README.md").write_text("## Course map\n\n| # | notebook | what |\n|---|---|---|\n"
                                        "| 00 | tiny | a test |\n| 01 | later | coming |\n")
    return tmp_path


def test_build_stops_on_a_broken_link_and_keeps_the_old_site(tmp_path):
    repo = _tiny_repo(tmp_path / "repo", "# 00 · Tiny\n\nSee [the solutions](../solutions/x.py).")
    out = tmp_path / "site"
    out.mkdir()
    (out / "old.html").write_text("the previous build")
    with pytest.raises(build_site.BuildError, match=r"solutions/x\.py does not exist"):
        build_site.build(out, repo=repo)
    assert (out / "old.html").read_text() == "the previous build"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["repo", "site"], "staging folder left"


def test_build_of_a_tiny_course(tmp_path):
    repo = _tiny_repo(tmp_path / "repo", "# 00 · Tiny\n\nMath $x^2$.")
    out = tmp_path / "site"
    written = build_site.build(out, repo=repo)
    assert [p.name for p in written] == ["index.html", "00_tiny.html"]
    index = (out / "index.html").read_text()
    assert '<a href="00_tiny.html">tiny</a>' in index and "coming" in index
    assert "<title>00 · Tiny</title>" in (out / "00_tiny.html").read_text()


def test_site_is_ignored_by_git():
    lines = (REPO / ".gitignore").read_text().split()
    assert "/site/" in lines or "site/" in lines


# --------------------------------------------------------------------------- in a browser

class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def served(site):
    """The site on a static server at 127.0.0.1: ``(base URL, site folder)``."""
    handler = functools.partial(_QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", site
    server.shutdown()
    server.server_close()


MATH_DONE_JS = """() => new Promise(resolve => {
    if (!window.MathJax) return resolve(false);
    MathJax.Hub.Queue(() => resolve(true));  // runs after the page's typesetting
})"""

PAGE_REPORT_JS = """() => {
    const raw = [];
    for (const el of document.querySelectorAll('.jp-MarkdownOutput')) {
        const copy = el.cloneNode(true);
        copy.querySelectorAll('code, pre, script, .MathJax, .MathJax_Display, .MathJax_Preview, '
                              + '.MJX_Assistive_MathML').forEach(n => n.remove());
        const left = copy.textContent.match(/\\$[^$]+\\$/g);
        if (left) raw.push(...left.map(s => s.slice(0, 80)));
    }
    return {
        images: Array.from(document.images).map(img => ({
            src: img.src.slice(0, 80), loaded: img.complete && img.naturalWidth > 0})),
        mathScripts: document.querySelectorAll('script[type^="math/tex"]').length,
        typeset: document.querySelectorAll('.MathJax, .MathJax_Display').length,
        mathErrors: Array.from(document.querySelectorAll('.MathJax_Error, merror'))
            .map(e => e.textContent.slice(0, 80)),
        rawTex: raw,
        links: Array.from(document.querySelectorAll('a[href]')).map(a => a.href),
        ids: Array.from(document.querySelectorAll('[id], a[name]')).map(e => e.id || e.name),
    };
}"""


def offline_context(browser, base: str, outside: list[str]):
    """A browser context in which every request not to ``base`` is aborted and recorded."""
    context = browser.new_context()

    def only_this_machine(route):
        if route.request.url.startswith(base):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    context.route("**/*", only_this_machine)
    return context


@pytest.mark.browser
def test_site_offline_in_a_browser(browser, served):
    base, site = served
    outside = []
    context = offline_context(browser, base, outside)
    problems, reports = [], {}
    try:
        page = context.new_page()
        for path in pages(site):
            page.goto(base + path.name, wait_until="load")
            if path.name != "index.html":
                assert page.evaluate(MATH_DONE_JS), f"{path.name}: MathJax did not load"
            reports[path.name] = report = page.evaluate(PAGE_REPORT_JS)
            problems += page_problems(path.name, report)
    finally:
        context.close()
    problems += [f"request to another host: {url}" for url in outside]
    problems += link_problems(base, reports)
    assert set(reports) == {"index.html"} | {build_site.page_name(n.name) for n in NOTEBOOKS}
    assert not problems, "the static site offline:\n" + "\n".join(problems)


# MathJax's accessibility explorer (its menu: Accessibility > Explorer) loads the speech rule
# engine, whose code names a CDN for its rule files; MathJax points it at the copy in
# mathjax/extensions/a11y/mathmaps/. Turned on as a reader would (the menu's settings), it
# must load with no request leaving the machine.
EXPLORER_ON_JS = """window.MathJax = {menuSettings: {explorer: true, collapsible: true,
                                                    autocollapse: true}};"""


@pytest.mark.browser
def test_math_accessibility_explorer_stays_offline(browser, served):
    base, site = served
    outside = []
    context = offline_context(browser, base, outside)
    try:
        context.add_init_script(EXPLORER_ON_JS)
        page = context.new_page()
        name = next(p.name for p in pages(site) if p.name != "index.html")
        page.goto(base + name, wait_until="load")
        assert page.evaluate(MATH_DONE_JS), f"{name}: MathJax did not load"
        page.wait_for_function("() => !!(window.MathJax.Extension.explorer && window.sre)",
                               timeout=60_000)
        page.wait_for_load_state("networkidle")
    finally:
        context.close()
    assert not outside, f"the accessibility explorer asked other hosts for {outside}"


def page_problems(name: str, report: dict) -> list[str]:
    problems = []
    if not report["images"]:
        problems.append(f"{name}: no images at all")
    problems += [f"{name}: image did not load: {img['src']}" for img in report["images"]
                 if not img["loaded"]]
    notebook = REPO / "notebooks" / name.replace(".html", ".ipynb")
    if notebook.exists() and "$" in notebook_markdown(notebook):
        if report["mathScripts"] == 0:
            problems.append(f"{name}: the notebook has $...$ math but MathJax typeset none")
        if report["typeset"] < report["mathScripts"]:
            problems.append(f"{name}: {report['mathScripts']} formulas, "
                            f"{report['typeset']} typeset")
    problems += [f"{name}: MathJax error: {e}" for e in report["mathErrors"]]
    problems += [f"{name}: math left as raw TeX: {t}" for t in report["rawTex"]]
    return problems


def link_problems(base: str, reports: dict) -> list[str]:
    problems = []
    for name, report in reports.items():
        for href in report["links"]:
            url = urllib.parse.urlsplit(href)
            if href.startswith(base):
                target = url.path.rsplit("/", 1)[-1] or "index.html"
                if target not in reports:
                    problems.append(f"{name}: link to {href}, which is not a page of the site")
                elif url.fragment and not {url.fragment, urllib.parse.unquote(url.fragment)} \
                        & set(reports[target]["ids"]):
                    # a browser tries the fragment as written, then percent-decoded
                    problems.append(f"{name}: link to {href}: {target} has no #{url.fragment}")
            elif m := GITHUB_FILE.match(href):
                if not (REPO / urllib.parse.unquote(m[1])).exists():
                    problems.append(f"{name}: GitHub link to {m[1]}, not in the repository")
            elif url.netloc in ("mybinder.org", "colab.research.google.com"):
                nb = re.search(r"notebooks/[^/?#&]+\.ipynb", href)
                if not nb or not (REPO / nb[0]).exists():
                    problems.append(f"{name}: {url.netloc} link to a missing notebook: {href}")
    return problems
