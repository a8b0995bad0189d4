"""Export the course to a static site that works offline: what `make html` runs.

    python scripts/build_site.py [--out site]

Writes, for every ``notebooks/[0-9]*.ipynb``:

    site/index.html       the course map (README's table), Binder and Colab badges per notebook
    site/NN_name.html     the notebook with its stored outputs (nbconvert's JupyterLab look)
    site/mathjax/         MathJax 2.7, copied from the pinned jupyter-server-mathjax package
    site/badges/*.svg     the Binder and Colab badges, drawn here

nbconvert (pinned in requirements-dev.txt; JupyterLab's server already depends on it) renders
Markdown, code and every output type with JupyterLab's own CSS; this script only adjusts what
a page needs to work without a network:

- math: the local MathJax instead of the CDN copy nbconvert's template loads;
- no require.js or widget manager from a CDN: a widget cannot run without a kernel, so its
  output becomes a short note (the notebooks put a static figure beside every widget), and a
  progress bar shows its stored final text;
- links: ``NN_name.ipynb`` becomes ``NN_name.html``; a link to another repository file
  (``../solutions/...``, ``../gan_course/assets/PRETRAINED.md``) goes to that file on GitHub,
  which renders Python and Markdown (a browser would show a local copy as raw text or
  download it); a relative link to a file that does not exist stops the build;
- images: Markdown images are embedded (data URIs, like the figures); the two badge images,
  hosted by mybinder.org and Google, are replaced by local copies; any other remote image
  stops the build, since it could not load offline.

The site is built in a fresh folder beside ``--out`` and moved into place only when every
page is done, so a failed build leaves the previous site as it was.
"""

from __future__ import annotations

import argparse
import html
import re
import shutil
import sys
import tempfile
import time
import urllib.parse
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # run from a checkout without `pip install -e .` too

from gan_course.files import atomic_write  # noqa: E402

GITHUB_REPO = "gan-course/gan-course"  # owner/name on GitHub, as in README's Binder badge
BRANCH = "main"
GITHUB = f"https://github.com/{GITHUB_REPO}"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
MATHJAX_CONFIG = "TeX-AMS-MML_HTMLorMML-full"  # the one full config the package ships
BADGE_IMAGES = {  # remote badge image -> its local copy
    "https://mybinder.org/badge_logo.svg": "badges/binder.svg",
    "https://mybinder.org/badge.svg": "badges/binder.svg",
    "https://colab.research.google.com/assets/colab-badge.svg": "badges/colab.svg",
}


def binder_url(name: str) -> str:
    return (f"https://mybinder.org/v2/gh/{GITHUB_REPO}/{BRANCH}"
            f"?urlpath=lab/tree/notebooks/{name}")


def colab_url(name: str) -> str:
    return f"https://colab.research.google.com/github/{GITHUB_REPO}/blob/{BRANCH}/notebooks/{name}"


def discover(repo: Path = REPO) -> list[Path]:
    """The course's notebooks, in order: ``notebooks/[0-9]*.ipynb``."""
    return sorted((repo / "notebooks").glob("[0-9]*.ipynb"))


def page_name(notebook: str) -> str:
    return Path(notebook).stem + ".html"


# --------------------------------------------------------------------------- badges

def _badge_svg(label: str, message: str, color: str) -> str:
    """A flat two-part badge in the usual shields layout; about 6.5 px per character."""
    lw, mw = 10 + round(6.5 * len(label)), 10 + round(6.5 * len(message))
    w = lw + mw
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="20" role="img" '
            f'aria-label="{label}: {message}"><title>{label}: {message}</title>'
            f'<rect width="{w}" height="20" rx="3" fill="#555"/>'
            f'<rect x="{lw}" width="{mw}" height="20" rx="3" fill="{color}"/>'
            f'<rect x="{lw}" width="4" height="20" fill="{color}"/>'
            f'<g fill="#fff" font-family="DejaVu Sans,Verdana,Geneva,sans-serif" font-size="11"'
            f' text-anchor="middle"><text x="{lw / 2}" y="14">{label}</text>'
            f'<text x="{lw + mw / 2}" y="14">{message}</text></g></svg>\n')


BADGES = {
    "badges/binder.svg": _badge_svg("launch", "binder", "#579aca"),
    "badges/colab.svg": _badge_svg("open in", "Colab", "#f9ab00"),
}


def badges_html(name: str) -> str:
    """The index's two badges for one notebook, with the local badge images."""
    return (f'<a href="{binder_url(name)}"><img src="badges/binder.svg" alt="Binder"></a> '
            f'<a href="{colab_url(name)}"><img src="badges/colab.svg" alt="Open In Colab"></a>')


# --------------------------------------------------------------------------- widgets

def _widget_models(nb: dict) -> dict:
    state = nb.get("metadata", {}).get("widgets", {}).get(WIDGET_STATE, {})
    return state.get("state", {}) if isinstance(state, dict) else {}


def _strip_tags(value: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", value or ""))


def static_widget_html(view: dict, models: dict) -> str:
    """What a page shows for one widget output: a progress bar as its stored final line
    (tqdm's bar: an HBox of HTML, progress, HTML), anything else as a note."""
    model = models.get(view.get("model_id", ""), {})
    state = model.get("state", {})
    children = [models.get(str(c).removeprefix("IPY_MODEL_"), {})
                for c in state.get("children", [])]
    kinds = [c.get("model_name", "") for c in children]
    progress = [c for c in children if c.get("model_name", "").endswith("ProgressModel")]
    if model.get("model_name") == "HBoxModel" and progress:
        bar = progress[0]["state"]
        texts = [_strip_tags(c["state"].get("value", "")) for c in children
                 if c.get("model_name") == "HTMLModel"]
        left, right = (texts + ["", ""])[:2]
        return (f'<div class="site-progress">{html.escape(left)} <progress '
                f'value="{bar.get("value", 0)}" max="{bar.get("max", 100)}"></progress> '
                f'{html.escape(right)}</div>')
    what = "an interactive figure" if "widget-interact" in state.get("_dom_classes", []) \
        else f"a widget ({', '.join(kinds) or model.get('model_name', 'unknown')})"
    return ('<div class="site-widget-note">Here the notebook shows ' + what + ', which needs '
            'a running Python kernel. Open the notebook in JupyterLab, on Binder or on Colab '
            '(badges at the top) to use it; the static figure next to it shows what it draws.'
            '</div>')


def staticize_widgets(nb: dict) -> dict:
    """The notebook with each widget output replaced by :func:`static_widget_html` and the
    widget state dropped (nbconvert would otherwise load widget JavaScript from a CDN)."""
    models = _widget_models(nb)
    for cell in nb.get("cells", []):
        for out in cell.get("outputs", []):
            view = out.get("data", {}).get(WIDGET_VIEW)
            if view is not None:
                out["data"] = {"text/html": static_widget_html(view, models)}
    nb.get("metadata", {}).pop("widgets", None)
    return nb


# --------------------------------------------------------------------------- links

class BuildError(RuntimeError):
    """The site cannot be built as it should be (a broken link, a remote image)."""


@dataclass
class Rewriter:
    """Rewrites one page's ``href``/``src`` attributes for the site (see the module doc)."""

    source: Path  # the notebook whose links these are (they are relative to its folder)
    pages: set[str]  # notebook file names that get a page
    repo: Path
    problems: list[str]

    def href(self, value: str) -> str:
        url = urllib.parse.urlsplit(value)
        if url.scheme or url.netloc or not url.path:
            return value  # external, mailto:, or a #fragment on this page
        target = (self.source.parent / urllib.parse.unquote(url.path)).resolve()
        fragment = f"#{url.fragment}" if url.fragment else ""
        if target.parent == (self.repo / "notebooks").resolve() and target.name in self.pages:
            return page_name(target.name) + fragment
        try:
            rel = target.relative_to(self.repo.resolve())
        except ValueError:
            self.problems.append(f"{self.source.name}: link {value!r} points outside the "
                                 "repository")
            return value
        if not target.exists():
            self.problems.append(f"{self.source.name}: link {value!r}: {rel} does not exist")
            return value
        kind = "tree" if target.is_dir() else "blob"
        return f"{GITHUB}/{kind}/{BRANCH}/{rel.as_posix()}{fragment}"

    def src(self, value: str) -> str:
        if value.startswith("data:"):
            return value
        if value in BADGE_IMAGES:
            return BADGE_IMAGES[value]
        self.problems.append(f"{self.source.name}: image {value[:80]!r} would not load "
                             "offline; put the image in the notebook's Markdown as an "
                             "attachment or a file next to it (the site embeds those)")
        return value


class _TagFinder(HTMLParser):
    """Start tags with an ``href`` or ``src``, as (offset, raw tag text, attrs). The
    document is never re-serialised: only those tags' text is replaced, so everything else
    (math, code, embedded images) stays byte for byte what nbconvert wrote."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.tags = []
        self._line_starts = [0] + [m.end() for m in re.finditer("\n", text)]
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        if tag in ("a", "img") and any(k in ("href", "src") for k, _ in attrs):
            line, col = self.getpos()
            self.tags.append((self._line_starts[line - 1] + col, self.get_starttag_text(),
                              tag, dict(attrs)))

    handle_startendtag = handle_starttag


def rewrite_links(text: str, rewriter: Rewriter) -> str:
    pieces, last = [], 0
    for offset, raw, tag, attrs in _TagFinder(text).tags:
        new = raw
        for attr, fix in (("href", rewriter.href), ("src", rewriter.src)):
            if tag == ("a" if attr == "href" else "img") and attrs.get(attr) is not None:
                old = attrs[attr]
                fixed = fix(old)
                if fixed != old:
                    new = re.sub(rf'(\b{attr}\s*=\s*)("[^"]*"|\'[^\']*\'|[^\s>]+)',
                                 lambda m: f'{m[1]}"{html.escape(fixed)}"', new, count=1)
        pieces += [text[last:offset], new]
        last = offset + len(raw)
    pieces.append(text[last:])
    return "".join(pieces)


# --------------------------------------------------------------------------- pages

PAGE_TEMPLATE = r"""{%- extends 'index.html.j2' -%}
{# No require.js, no widget manager, no mermaid: each would come from a CDN. #}
{%- block html_head_js -%}{%- endblock html_head_js -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block html_head_js_mathjax -%}
<script type="text/x-mathjax-config">
MathJax.Hub.Config({
    tex2jax: {inlineMath: [['$', '$'], ['\\(', '\\)']], displayMath: [['$$', '$$'], ['\\[', '\\]']],
              processEscapes: true, processEnvironments: true},
    TeX: {equationNumbers: {autoNumber: "AMS", useLabelIds: true}},
    // the package ships the STIX web fonts only, and no image fonts
    "HTML-CSS": {availableFonts: [], preferredFont: null, webFont: "STIX-Web", imageFont: null},
    displayAlign: "center", messageStyle: "none",
    MathMenu: {showFontMenu: false}
});
</script>
<script src="mathjax/MathJax.js?config={{ resources.site.mathjax_config }}"></script>
{%- endblock html_head_js_mathjax -%}
{%- block extra_css -%}
<style type="text/css">{{ resources.site.css }}</style>
{%- endblock extra_css -%}
{%- block body_header -%}
{{ super() }}
<nav class="site-nav">{{ resources.site.nav }}</nav>
{%- endblock body_header -%}
{% block body_footer %}
<nav class="site-nav">{{ resources.site.nav }}</nav>
{{ super() }}
{% endblock body_footer %}
"""

SITE_CSS = """
.site-nav { max-width: 1100px; margin: 0 auto; padding: 8px 16px; font-family: var(--jp-ui-font-family, sans-serif); font-size: 14px; display: flex; gap: 1.5em; }
.site-nav .site-next { margin-left: auto; }
.site-widget-note { border-left: 4px solid #579aca; background: #f3f8fc; padding: 6px 10px; font-family: var(--jp-ui-font-family, sans-serif); font-size: 13px; }
.site-progress { font-family: var(--jp-code-font-family, monospace); font-size: 12px; }
.site-progress progress { width: 20em; vertical-align: middle; }
"""


def notebook_title(nb: dict, fallback: str) -> str:
    """The first Markdown heading's text (``00 · Welcome``), or ``fallback``."""
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "markdown":
            source = cell.get("source", "")
            source = "".join(source) if isinstance(source, list) else source
            m = re.search(r"^#+\s+(.+)$", source, re.M)
            if m:
                return m[1].strip()
    return fallback


def nav_html(i: int, names: list[str], titles: dict[str, str]) -> str:
    parts = ['<a href="index.html">Course map</a>']
    if i > 0:
        parts.append(f'<a class="site-prev" href="{page_name(names[i - 1])}">&larr; '
                     f'{html.escape(titles[names[i - 1]])}</a>')
    if i + 1 < len(names):
        parts.append(f'<a class="site-next" href="{page_name(names[i + 1])}">'
                     f'{html.escape(titles[names[i + 1]])} &rarr;</a>')
    return " ".join(parts)


NAV_MARK = "<!-- site navigation -->"


def export_notebook(path: Path, nb: dict, nav: str, exporter, rewriter: Rewriter) -> str:
    """One notebook's page. The navigation goes in after the links are rewritten: its links
    are to site pages already, not to files relative to the notebook."""
    node = staticize_widgets(nb)
    resources = {"metadata": {"name": notebook_title(nb, path.stem), "path": str(path.parent)},
                 "site": {"nav": NAV_MARK, "css": SITE_CSS,
                          "mathjax_config": f"{MATHJAX_CONFIG},Safe"}}
    body, _ = exporter.from_notebook_node(node, resources=resources)
    return rewrite_links(body, rewriter).replace(NAV_MARK, nav)


def make_exporter():
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter

    return HTMLExporter(template_name="lab", template_file="gan_course_site.html.j2",
                        extra_loaders=[DictLoader({"gan_course_site.html.j2": PAGE_TEMPLATE})],
                        embed_images=True)


# --------------------------------------------------------------------------- the index

def course_map(readme: str) -> list[tuple[str, str, str]]:
    """``(number, name, what you leave with)`` for each row of README's "Course map" table."""
    section = re.search(r"^## Course map\n(.*?)(?=^## |\Z)", readme, re.M | re.S)
    if not section:
        raise BuildError("README.md has no '## Course map' section to build the index from")
    rows = []
    for line in section[1].splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 3 and re.fullmatch(r"\d+", cells[0]):
            rows.append((cells[0], cells[1], " | ".join(cells[2:])))
    if not rows:
        raise BuildError("README.md's course map has no '| NN | name | ... |' rows")
    return rows


def _inline(text: str) -> str:
    """Escaped table text with `code` spans, the only Markdown the course map uses."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(text))


def index_html(readme: str, names: list[str], titles: dict[str, str]) -> str:
    by_number = {name.split("_", 1)[0]: name for name in names}
    rows, listed = [], set()
    for number, topic, what in course_map(readme):
        name = by_number.get(number)
        if name is None:
            rows.append(f"<tr><td>{number}</td><td>{_inline(topic)}</td><td>{_inline(what)}</td>"
                        "<td></td></tr>")
            continue
        listed.add(name)
        rows.append(f'<tr><td>{number}</td><td><a href="{page_name(name)}">{_inline(topic)}</a>'
                    f"</td><td>{_inline(what)}</td><td class='badges'>{badges_html(name)}</td></tr>")
    for name in names:  # a notebook the README does not list yet still gets its row
        if name not in listed:
            rows.append(f'<tr><td>{name.split("_", 1)[0]}</td><td><a href="{page_name(name)}">'
                        f"{html.escape(titles[name])}</a></td><td></td>"
                        f"<td class='badges'>{badges_html(name)}</td></tr>")
    intro = re.search(r"^A hands-on course.*?(?=\n\n)", readme, re.M | re.S)
    intro_html = f"<p>{_inline(intro[0])}</p>" if intro else ""
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>gan-course: the course map</title>
<style type="text/css">
body {{ font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; max-width: 1100px;
       margin: 2em auto; padding: 0 1em; line-height: 1.5; color: #222; }}
table {{ border-collapse: collapse; width: 100%; }}
th, td {{ border-bottom: 1px solid #ddd; padding: 6px 8px; text-align: left; vertical-align: top; }}
td.badges {{ white-space: nowrap; }}
td.badges img {{ vertical-align: middle; }}
</style>
</head>
<body>
<main>
<h1>gan-course</h1>
{intro_html}
<p>Each page below is a notebook with the outputs of a full run. To run one yourself, open it
on Binder or Colab with its badges, or clone <a href="{GITHUB}">the repository</a> and run
<code>make lab</code>.</p>
<h2 id="course-map">Course map</h2>
<table>
<thead><tr><th>#</th><th>notebook</th><th>what you leave with</th><th>run it</th></tr></thead>
<tbody>
{chr(10).join(rows)}
</tbody>
</table>
<p>Code: MIT. Course text and figures: CC BY 4.0. MNIST: &copy; Yann LeCun and Corinna Cortes,
CC BY-SA 3.0. Details in <a href="{GITHUB}/blob/{BRANCH}/README.md">README.md</a>.</p>
</main>
</body>
</html>
"""


# --------------------------------------------------------------------------- the site

def mathjax_dir() -> Path:
    try:
        import jupyter_server_mathjax
    except ImportError:
        raise BuildError("jupyter-server-mathjax is not installed, and the site's math needs "
                         "its MathJax copy: `.venv/bin/pip install -r requirements-dev.txt` "
                         "(`make html` does that)") from None
    static = Path(jupyter_server_mathjax.__file__).parent / "static"
    if not (static / "MathJax.js").is_file() or \
            not (static / "config" / f"{MATHJAX_CONFIG}.js").is_file():
        raise BuildError(f"{static} lacks MathJax.js or config/{MATHJAX_CONFIG}.js: reinstall "
                         "the pinned jupyter-server-mathjax from requirements-dev.txt")
    return static


def _write(path: Path, text: str) -> None:
    with atomic_write(path) as f:
        f.write(text.encode("utf-8"))


def build(out: Path, repo: Path = REPO, notebooks: list[Path] | None = None) -> list[Path]:
    """Build the site into ``out`` (replacing what was there); returns the pages written."""
    import nbformat

    notebooks = discover(repo) if notebooks is None else notebooks
    if not notebooks:
        raise BuildError(f"no notebooks/[0-9]*.ipynb under {repo}")
    out = out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    try:
        shutil.copytree(mathjax_dir(), staging / "mathjax")
        for rel, svg in BADGES.items():
            _write(staging / rel, svg)
        names = [p.name for p in notebooks]
        nbs = {p.name: nbformat.read(p, as_version=4) for p in notebooks}
        titles = {name: notebook_title(nb, Path(name).stem) for name, nb in nbs.items()}
        exporter = make_exporter()
        problems: list[str] = []
        pages = []
        for i, path in enumerate(notebooks):
            rewriter = Rewriter(path, set(names), repo, problems)
            page = export_notebook(path, nbs[path.name], nav_html(i, names, titles), exporter,
                                   rewriter)
            _write(staging / page_name(path.name), page)
            pages.append(out / page_name(path.name))
        readme = (repo / "README.md").read_text(encoding="utf-8")
        _write(staging / "index.html", index_html(readme, names, titles))
        if problems:
            raise BuildError("the site would have broken links or images:\n  " +
                             "\n  ".join(problems))
        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return [out / "index.html"] + pages


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "site", help="where the site goes")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    try:
        pages = build(args.out)
    except BuildError as err:
        print(f"make html: {err}", file=sys.stderr)
        return 1
    size = sum(f.stat().st_size for f in args.out.rglob("*") if f.is_file())
    print(f"wrote {len(pages)} pages to {args.out} ({size / 2**20:.1f} MiB with MathJax) in "
          f"{time.perf_counter() - start:.1f} s; open {args.out / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
