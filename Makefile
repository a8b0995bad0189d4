# The course's commands. Everything runs in .venv, made from requirements.txt.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
NOTEBOOKS := $(sort $(wildcard notebooks/[0-9]*.ipynb))
# nbval in lax mode: a cell fails on an exception, or when it is tagged
# nbval-check-output and its text output differs from the stored one.
NBVAL  := --nbval-lax --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg \
          --nbval-cell-timeout=600

.PHONY: help install lab test notebooks bench doctor clean

help:
	@echo "make lab        install the pinned environment into .venv and start JupyterLab"
	@echo "make test       unit tests + every notebook under nbval, in quick mode"
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

# JupyterLab refuses to start as root (containers, some classroom servers) without --allow-root.
LAB_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root)

lab: install
	$(VENV)/bin/jupyter lab notebooks/00_welcome.ipynb $(LAB_ROOT) $(LAB_ARGS)

test: install
	GAN_COURSE_QUICK=1 $(PY) -m pytest -q tests $(NOTEBOOKS) $(NBVAL) $(PYTEST_ARGS)

notebooks: install
	$(PY) scripts/run_notebooks.py $(or $(NB),$(NOTEBOOKS))

bench: install
	$(PY) -m gan_course bench

doctor: install
	$(PY) -m gan_course doctor

clean:
	rm -rf $(VENV) runs notebooks/runs
