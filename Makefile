# The course's commands. Everything runs in .venv, made from requirements.txt (and, for the
# tests and the site, requirements-dev.txt).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
DEV_STAMP := $(VENV)/.installed-dev-stamp
NOTEBOOKS := $(sort $(wildcard notebooks/[0-9]*.ipynb))
# nbval in lax mode: a cell fails on an exception, or when it is tagged
# nbval-check-output and its text output differs from the stored one.
NBVAL  := --nbval-lax --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg \
          --nbval-cell-timeout=600

.PHONY: help install install-dev lab restore test test-browser html notebooks bench doctor clean

help:
	@echo "make lab        install the pinned environment into .venv and start JupyterLab"
	@echo "                on your own copies of the notebooks (my_notebooks/)"
	@echo "make restore NB=05   a fresh copy of notebook 05 in my_notebooks/ (the old one is kept)"
	@echo "make test       unit tests, every notebook under nbval and in JupyterLab in a"
	@echo "                headless Chromium, and the static site, all in quick mode"
	@echo "make test-browser  only the browser tests (JupyterLab and the static site)"
	@echo "make html       export the course to site/ (works offline; open site/index.html)"
	@echo "make notebooks  re-execute every notebook in full mode, storing outputs in place"
	@echo "make bench      print training speed and time-to-quality numbers"
	@echo "make doctor     check this machine: versions, device, data, widgets"

# torch first, in the build that suits this machine (the script prints which it installed):
# on Linux without an NVIDIA GPU the CPU-only build from PyTorch's own index (else, when that
# index cannot be reached, the plain pin); otherwise the plain pin, which on Linux is the CUDA
# build. Choose yourself with TORCH_INDEX=cpu, pypi or an index URL (on a fresh .venv).
TORCH_INDEX ?=

$(STAMP): requirements.txt pyproject.toml scripts/install_torch.py
	$(PYTHON) -m venv $(VENV)
	$(PY) scripts/install_torch.py $(if $(TORCH_INDEX),--index $(TORCH_INDEX))
	$(PY) -m pip install --upgrade-strategy only-if-needed -r requirements.txt
	$(PY) -m pip install --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

# Test and site tools. requirements.txt as a constraint: they can never move a course pin.
$(DEV_STAMP): $(STAMP) requirements-dev.txt
	$(PY) -m pip install -r requirements-dev.txt -c requirements.txt
	touch $(DEV_STAMP)

install-dev: $(DEV_STAMP)

# JupyterLab refuses to start as root (containers, some classroom servers) without --allow-root.
LAB_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root)

# Serves the repository's root and opens my_notebooks/00_welcome.ipynb; the copies in
# my_notebooks/ (ignored by git) are made on the first run and never overwritten.
lab: install
	$(PY) scripts/lab.py $(LAB_ROOT) $(LAB_ARGS)

restore: install
	@test -n "$(NB)" || { echo "usage: make restore NB=05 (the notebook's number)"; exit 2; }
	$(PY) scripts/lab.py --restore $(NB)

# Browser tests are skipped, with one line saying how to get Chromium, where it is missing.
test: install-dev
	GAN_COURSE_QUICK=1 $(PY) -m pytest -q tests $(NOTEBOOKS) $(NBVAL) $(PYTEST_ARGS)

test-browser: install-dev
	GAN_COURSE_QUICK=1 $(PY) -m pytest -q -m browser tests $(PYTEST_ARGS)

html: install-dev
	$(PY) scripts/build_site.py --out site

notebooks: install
	$(PY) scripts/run_notebooks.py $(or $(NB),$(NOTEBOOKS))

bench: install
	$(PY) -m gan_course bench

doctor: install
	$(PY) -m gan_course doctor

clean:
	rm -rf $(VENV) runs notebooks/runs site
