# yolo-smol. Every target sets itself up from a fresh clone with only python3 on the PATH.
PYTHON ?= python3
# bash, for set -o pipefail in the book target.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Seconds per notebook cell: nbclient can hang on widget cells without a timeout.
CELL_TIMEOUT ?= 600
CHAPTERS := $(sort $(wildcard book/*.ipynb))
# The chapters' committed outputs are made with EXECUTE_THREADS threads and checked by nbval
# with CHECK_THREADS: sums taken in another order, as on a CPU of another vendor, so a figure
# printed past the precision it holds to fails here, before it fails on another machine.
EXECUTE_THREADS ?= 2
CHECK_THREADS ?= 1
THREADS = OMP_NUM_THREADS=$(1) MKL_NUM_THREADS=$(1)
BOOK := $(call THREADS,$(EXECUTE_THREADS)) $(BIN)/jupyter-book build . --all -W -n --keep-going --toc _toc.yml

.PHONY: all setup book book-html browser-check test notebooks lint clean weights lab

all: book

setup: $(STAMP)

# Create the environment and install the project once; redone when pyproject.toml changes.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,export]'
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $@

# The main job: execute every chapter afresh and build the HTML book into _build/html.
# The build's output is also kept in _build/book.log, from which each chapter's execution
# time is printed at the end (pipefail: a failed build still fails the target).
book: $(STAMP)
	mkdir -p _build
	set -o pipefail; $(BOOK) --config _config.yml 2>&1 | tee _build/book.log
	@$(BIN)/python benchmarks/book_times.py _build/book.log
	@echo "The book is at _build/html/index.html"

# The same book from the committed chapter outputs, without executing anything.
book-html: $(STAMP)
	mkdir -p _build
	sed 's/^  execute_notebooks: force/  execute_notebooks: "off"/' _config.yml > _build/_config_committed.yml
	$(BOOK) --config _build/_config_committed.yml

# Every page of the built book in headless Chromium: missing pages, broken links and
# anchors, images that do not load, cell errors, content wider than the text column; a
# screenshot of each page in _build/screenshots. Needs Node.js 20 or later: npm fetches
# the pinned Chromium build into browser_check/node_modules once. The self-test first
# proves the check finds each kind of problem on a page broken on purpose.
BROWSER_DEPS := browser_check/node_modules/.package-lock.json
$(BROWSER_DEPS): browser_check/package-lock.json
	cd browser_check && npm ci --no-audit --no-fund --silent

browser-check: book-html $(BROWSER_DEPS)
	node browser_check/selftest.mjs
	node browser_check/check.mjs _build/html _build/screenshots

# Unit tests, then every chapter under strict nbval against its committed outputs, at
# another thread count than the one they were made with (see EXECUTE_THREADS).
test: $(STAMP)
	$(BIN)/pytest tests
	$(call THREADS,$(CHECK_THREADS)) $(BIN)/pytest --nbval book/

# Re-execute every chapter in place, so the committed outputs match the package.
notebooks: $(STAMP)
	$(call THREADS,$(EXECUTE_THREADS)) $(BIN)/jupyter execute --inplace --timeout=$(CELL_TIMEOUT) $(CHAPTERS)

# Work through the chapters in JupyterLab (installed into the environment on first use).
lab: $(STAMP)
	test -x $(BIN)/jupyter-lab || $(BIN)/python -m pip install --quiet jupyterlab
	$(BIN)/jupyter lab book/

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf _build .pytest_cache .ruff_cache

# The shipped weights: trained on the synthetic set only, CPU only. smol128x64 (the detector
# yolo-smol detect uses: the book's network on a 128 x 64 input, as wide as house numbers)
# and smol at 32 px (whose curve the training chapter shows). About 44 minutes on 2 cores.
# The detector takes 32 images a step: on a CPU images/s barely depend on the batch size, and
# 14 epochs of 256 gave it too few optimizer steps (benchmarks/results/real.csv: rows E, E b64
# and E b32 in the short recipe; small batches and 32 a step in this one). 16 a step trains
# about a fifth fewer images/s, so only 12 epochs fit in 45 minutes, and those read fewer
# real photos than 14 epochs of 32 (rows E b16 and 16 a step full).
WEIGHTS_DETECTOR := $(BIN)/yolo-smol train --model_config configs/smol128x64.json --batch_size 32 --num_epochs 14 --lr 5e-3 --eval_every 7 --checkpoint_epoch 7 --num_test 2000 --device cpu --seed 0 --save_dir runs/weights/smol128x64
WEIGHTS_32 := $(BIN)/yolo-smol train --model_config configs/smol.json --num_epochs 16 --lr 5e-3 --eval_every 8 --checkpoint_epoch 8 --num_test 2000 --device cpu --seed 0 --save_dir runs/weights/smol
# Real photos to measure the detector on (never to train on), when they are there.
REAL_PHOTOS ?= ../shared/svhn_real_dev/annotations.jsonl
weights: $(STAMP)
	rm -rf runs/weights
	start=$$(date +%s); $(WEIGHTS_DETECTOR) && \
	$(BIN)/python -m yolo_smol.training.model_card runs/weights/smol128x64 weights/smol128x64.pt \
		--command "make weights: $(subst $(BIN)/,,$(WEIGHTS_DETECTOR))" --seconds $$(( $$(date +%s) - start )) \
		--real_photos $(REAL_PHOTOS)
	start=$$(date +%s); $(WEIGHTS_32) && \
	$(BIN)/python -m yolo_smol.training.model_card runs/weights/smol weights/smol.pt \
		--command "make weights: $(subst $(BIN)/,,$(WEIGHTS_32))" --seconds $$(( $$(date +%s) - start ))
