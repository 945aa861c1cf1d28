# Two commands do all the set-up on a fresh machine:
#   make demo   the whole walkthrough on the embedded default (CPU, no downloads)
#   make test   the test suite
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
TORCH  ?= torch==2.13.0

.PHONY: demo test bench clean venv

venv: $(VENV)/.installed

# torch goes in first and pinned: a bare `torch` requirement with no torch installed would pull a CUDA build.
$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH)"
	$(PY) -m pip install -q -r requirements.txt
	touch $@

test: venv
	HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 $(PY) -m pytest -q tests

demo: venv
	HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 FORCE=$(FORCE) bash demo.sh

bench: venv
	HF_HUB_OFFLINE=1 $(PY) bench.py

clean:
	rm -rf runs results
