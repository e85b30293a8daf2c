# Visual Recommendation Workbook: two commands do all set-up.
#   make lab   - create .venv if needed, open JupyterLab on the workbook
#   make test  - create .venv if needed, lint, hygiene, unit tests, every notebook
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
STAMP := $(VENV)/.installed
PORT ?= 8888
JOBS ?= 2

.PHONY: lab test venv lint hygiene unit fuzz notebooks determinism gpu bench book exercises clean strip seeds records readme

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip>=23.2" wheel
	@# Where pip is capped at the torch/torchvision builds on local disk, take exactly those;
	@# elsewhere the ranges in pyproject.toml decide.
	@if grep -qs 'torch<=2.14.1' /etc/xdg/pip/constraints.txt; then \
		echo "pip is capped here: installing torch==2.14.1 torchvision==0.29.1"; \
		$(PY) -m pip install --quiet torch==2.14.1 torchvision==0.29.1; \
	fi
	$(PY) -m pip install --quiet -e ".[dev,spark,workbook,book]"
	@touch $(STAMP)

# jupyter/ holds the project's Jupyter settings (added to JUPYTER_CONFIG_PATH, the user's own config
# still wins): jupyter_lab_config.json opens 00_start_here.ipynb from the printed URL and in the
# launched browser (LabApp.default_url: LabApp's "/lab" replaces ServerApp.default_url); labconfig/
# page_config.json turns off the "official Jupyter news" prompt.
lab: venv
	JUPYTER_CONFIG_PATH=$(CURDIR)/jupyter$${JUPYTER_CONFIG_PATH:+:$$JUPYTER_CONFIG_PATH} \
		$(BIN)/jupyter lab --notebook-dir=notebooks --port=$(PORT) $$( [ "$$(id -u)" = 0 ] && echo --allow-root )

lint: venv
	$(BIN)/ruff check visrec_helpers visrec_book tests notebooks scripts

hygiene: venv
	$(PY) -m visrec_book.hygiene notebooks
	$(PY) -m visrec_book.export check
	$(PY) -m visrec_book.figures readme --check

unit: venv
	@# One BLAS/torch thread, as in `notebooks` and `determinism`: a model a unit test trains into the shared
	@# cache must equal the one a notebook would train (float sums depend on the thread count).
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(PY) -m pytest -q -p no:cacheprovider -n $(JOBS) -m "not determinism" tests

# Only the hypothesis property tests (@pytest.mark.property; `make unit` runs them too), with a
# bounded budget: FUZZ_EXAMPLES examples per test that sets no max_examples of its own (default 50).
FUZZ_EXAMPLES ?= 50
fuzz: venv
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(PY) -m pytest -q -p no:cacheprovider -n $(JOBS) -m property \
		--hypothesis-profile=fuzz tests

# Every notebook in notebooks/ runs its parameters cell as committed (a notebook still on
# visrec_book.workbook.PENDING gets its CI parameters from its own metadata, injected by papermill),
# then nbval executes it cell by cell; one notebook stays on one worker. Each run writes its record
# (parameters, seconds, figures) to build/records/, which the last step compares with the committed
# record of the learner's run (notebooks/records/; visrec_book.figures states the tolerances).
# ONLY="q01_content_based_recommendation t01_cnn_image_classification" runs a subset.
# scripts/offline.sh runs them in a network namespace with loopback only where the machine allows
# it (root + unshare -n), so "offline" is proven by the kernel; elsewhere it warns loudly and runs them.
notebooks: venv
	$(PY) -m visrec_book.workbook prepare --out build/ci --records build/records $(if $(ONLY),--only $(ONLY))
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 scripts/offline.sh $(PY) -m pytest -p no:cacheprovider --nbval-lax --nbval-current-env \
		--nbval-cell-timeout=900 -n $(JOBS) --dist loadfile \
		$(if $(ONLY),$(patsubst %,build/ci/%.ipynb,$(ONLY)),build/ci)
	$(PY) -m visrec_book.figures compare --run build/records $(if $(ONLY),--only $(ONLY))

# Notebooks at other seeds (SEED injected): a table of which Check-cell asserts fail, records and
# executed copies in build/seeds/. ONLY="q01_content_based_recommendation" SEEDS="1 2".
SEEDS ?= 1 2
seeds: venv
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(PY) -m visrec_book.seeds --out build/seeds --seeds $(SEEDS) \
		$(if $(ONLY),--only $(ONLY))

# After `make notebooks ONLY=...` (a notebook off PENDING runs its learner defaults): the run's
# records become the committed ones (notebooks/records/), then README's generated sections follow.
records: venv
	$(PY) -m visrec_book.figures accept --from build/records --only $(ONLY)
	$(PY) -m visrec_book.figures readme --write

readme: venv
	$(PY) -m visrec_book.figures readme --write

# Re-runs each training notebook with an empty model cache; figures must match the notebooks run.
determinism: venv
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(PY) -m pytest -q -p no:cacheprovider -n $(JOBS) -m determinism \
		tests/test_determinism.py

# The GPU path (skips without CUDA): training notebooks with DEVICE="cuda" and larger settings.
gpu: venv
	$(PY) -m pytest -q -p no:cacheprovider -m gpu tests/test_gpu.py -rs

test: venv lint hygiene unit notebooks determinism

bench: venv
	$(PY) -m visrec_book.bench --out build/bench.md

# Executes every notebook once (papermill), then renders build/book/site with Sphinx + MyST-NB (the
# book extra, installed here when missing). ONLY="q01_... t01_..." and PARAMS=ci as for notebooks.
book: venv
	@$(PY) -c "import myst_nb, sphinx_book_theme" 2>/dev/null || $(PY) -m pip install --quiet -e ".[book]"
	$(PY) -m visrec_book.site --out build/book $(if $(PARAMS),--params $(PARAMS)) $(if $(ONLY),--only $(ONLY))

exercises: venv
	$(PY) -m visrec_book.exercises --out build/exercises

strip: venv
	$(BIN)/nbstripout notebooks/*.ipynb

clean:
	rm -rf build .pytest_cache
