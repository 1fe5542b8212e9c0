# nmt: every target bootstraps .venv on first use.
#   make train MODEL=transformer DATA=multi30k_en_de ARGS='trainer.max_minutes=20'
#   make translate TEXT="I love you."      make evaluate SPLIT=test      make test
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TORCH ?= torch==2.13.0# installed only when no torch is importable (a torch of your own is kept)
MODEL ?= rnn_bahdanau_lexical
DATA ?= tatoeba_en_fr
TRAINER ?= default
ARGS ?=
RUN ?= runs/$(DATA)/$(MODEL)
TEXT ?= I love you.
TARGET ?= Je t'aime.# the translation of TEXT that make demo aligns, as the textbook does (TARGET= : the model's own)
SPLIT ?= test
BEAM ?= 5
COMPARE_DATA ?= multi30k_en_de
FAMILY_RUNS ?= runs/family/multi30k_en_fr
GOLD ?= $${NMT_DATA_DIR:-data}/alignments/en-fr/normalized# Hansards trial set (nmt aer)
BENCH_RUNS ?= $(patsubst %/best.pt,%,$(wildcard runs/multi30k_en_de/rnn_bahdanau/best.pt runs/multi30k_en_de/transformer/best.pt))
DEMO_OUT ?= data/results/i_love_you.png# the heatmap make demo draws (.png or .svg)

.PHONY: install browser train translate evaluate demo compare family serve tensorboard bench bench-gpu test test-slow lint docs docs-serve clean

# --system-site-packages: a torch you installed yourself (e.g. a CUDA build) stays the one in use.
$(BIN)/.installed: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv --system-site-packages $(VENV)
	@$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install -q "$(TORCH)"
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $@

install: $(BIN)/.installed

# Debian's headless Chromium, for the explorer's browser test (skipped there without a browser).
browser:  ## install chromium with apt-get when it is missing and we are root (CI)
	@test -x /usr/bin/chromium || { test "$$(id -u)" = 0 && command -v apt-get >/dev/null \
		&& apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
		|| echo "no /usr/bin/chromium: the explorer's browser test will be skipped"

train: install  ## train MODEL on DATA (CUDA when available, else CPU)
	$(BIN)/nmt train model=$(MODEL) data=$(DATA) trainer=$(TRAINER) $(ARGS)

translate: install  ## translate TEXT with the run RUN
	$(BIN)/nmt translate $(RUN) --beam $(BEAM) "$(TEXT)"

evaluate: install  ## BLEU, chrF and TER of RUN on SPLIT
	$(BIN)/nmt evaluate $(RUN) --split $(SPLIT) --beam $(BEAM)

demo: install  ## the textbook example: align TEXT and TARGET with the default run (trained first if missing)
	@test -f $(RUN)/best.pt || $(MAKE) train
	$(BIN)/nmt align $(RUN) "$(TEXT)" $(if $(TARGET),--target "$(TARGET)") --beam $(BEAM) --out $(DEMO_OUT)

compare: install  ## every attention type on COMPARE_DATA, 20 min each (ARGS= overrides), then the table
	$(BIN)/nmt train -m +experiment=compare_attention data=$(COMPARE_DATA) $(ARGS)
	$(BIN)/nmt compare runs/compare/$(COMPARE_DATA)/*/

family: install  ## the attention family on Multi30k En-Fr, 3 seeds, 5 min each (~4.5 h on 2 cores), AER, the table
	$(BIN)/nmt train -m +experiment=attention_family $(ARGS)
	for run in $(FAMILY_RUNS)/*/seed*/; do \
		case $$run in */rnn_noattn/*) continue;; esac; \
		$(BIN)/nmt aer $$run --src $(GOLD)/trial.en --tgt $(GOLD)/trial.fr --gold $(GOLD)/trial.gold.0based.txt || exit 1; \
	done
	$(BIN)/nmt compare $(FAMILY_RUNS)/*/seed*/

serve: install  ## the translation server and attention explorer for RUN, at http://127.0.0.1:8000/
	$(BIN)/nmt serve $(RUN)

tensorboard: install
	$(BIN)/tensorboard --logdir runs

bench: install  ## training step against plain PyTorch and the matmul peak (MFU); data pipeline; saliency; decoding speed of the Multi30k runs that are trained
	$(BIN)/python scripts/bench.py
	$(BIN)/python scripts/bench_data.py
	$(BIN)/python scripts/bench_saliency.py
	$(if $(BENCH_RUNS),$(BIN)/python scripts/bench_decode.py --ctranslate2 $(foreach r,$(BENCH_RUNS),--run $(r)))

bench-gpu: install  ## every GPU figure in at most 8 minutes into data/results/gpu_<device>/ (decoding: the trained Transformer run)
	$(BIN)/python scripts/gpu_check.py $(if $(wildcard runs/multi30k_en_de/transformer/best.pt),--run runs/multi30k_en_de/transformer)

test: install  ## the fast suite (what CI runs), on two workers; each test file stays on one (its fixtures run once)
	$(BIN)/python -m pytest -q -n 2 --dist loadfile --durations=15

test-slow: install  ## everything, including minutes-long training tests
	$(BIN)/python -m pytest -q -m ""

lint: install  ## ruff, and the import layers of pyproject.toml [tool.importlinter]
	$(BIN)/ruff check nmt tests scripts docs
	$(BIN)/ruff format --check nmt tests scripts docs
	$(BIN)/lint-imports

docs: install  ## the documentation site into site/; --strict: a broken link or a missing page stops it
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

docs-serve: install  ## the documentation site at http://127.0.0.1:8001/, rebuilt on every change
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs serve

clean:  ## caches and build files; keeps .venv, data/ and runs/
	rm -rf .pytest_cache .ruff_cache .cache build site *.egg-info outputs multirun
	find . -name __pycache__ -not -path './$(VENV)/*' -prune -exec rm -rf {} +
