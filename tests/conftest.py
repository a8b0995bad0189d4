"""Shared fixtures: a headless Chromium for the tests marked ``browser``.

The browser is Debian's ``chromium`` (or any Chromium named by ``GAN_COURSE_CHROMIUM``),
driven by the pinned ``playwright`` from requirements-dev.txt; playwright's own browser
download is never used. Without either, the browser tests are skipped and the run ends with
one line saying how to get them. With ``GAN_COURSE_BROWSER_REQUIRED=1`` (what CI sets) a
missing browser fails those tests instead, so CI cannot pass without having run them.
"""

from __future__ import annotations

import os
import shutil

import pytest

CHROMIUM_ENV = "GAN_COURSE_CHROMIUM"
REQUIRED_ENV = "GAN_COURSE_BROWSER_REQUIRED"
CHROMIUM_NAMES = ("chromium", "chromium-browser")
# Flags known to work here (see DEVELOPING.md): no sandbox as root in a container, no GPU,
# and none of Chromium's own background traffic (updates, sync, field trials).
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
HOW_TO_INSTALL = (
    "the browser tests need Chromium and the pinned playwright: "
    "`sudo apt-get install chromium` (Debian/Ubuntu; elsewhere install Chromium and set "
    f"{CHROMIUM_ENV}=/path/to/chromium) and `.venv/bin/pip install -r requirements-dev.txt` "
    "(`make test` does that); never `playwright install`. Run them alone with "
    "`make test-browser`.")


def find_chromium() -> str | None:
    named = os.environ.get(CHROMIUM_ENV, "").strip()
    if named:
        return named if os.access(named, os.X_OK) else None
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


def browser_missing() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed"
    if os.environ.get(CHROMIUM_ENV, "").strip() and not find_chromium():
        return f"{CHROMIUM_ENV}={os.environ[CHROMIUM_ENV]} is not an executable file"
    if not find_chromium():
        return f"no Chromium found (looked for {', '.join(CHROMIUM_NAMES)} on PATH)"
    return None


_skipped_for_browser: list[str] = []


@pytest.fixture(scope="session")
def browser():
    """A headless Chromium (playwright ``Browser``) for the whole run."""
    missing = browser_missing()
    if missing:
        message = f"{missing}; {HOW_TO_INSTALL}"
        if os.environ.get(REQUIRED_ENV) == "1":
            pytest.fail(f"{REQUIRED_ENV}=1 but {message}", pytrace=False)
        _skipped_for_browser.append(missing)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=find_chromium(), headless=True,
                                      args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def pytest_configure(config):
    config.addinivalue_line("markers", "browser: needs headless Chromium and playwright "
                                       "(`make test-browser` runs only these)")


def pytest_terminal_summary(terminalreporter):
    if _skipped_for_browser:
        terminalreporter.write_line(
            f"browser tests skipped: {_skipped_for_browser[0]}; {HOW_TO_INSTALL}", yellow=True)
