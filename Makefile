# Deep Learning Atlas. Each command works alone from a fresh clone:
#   make run     set up, draw missing figures, build the textbook and serve it on
#                http://127.0.0.1:8000/
#   make test    set up, lint, run the test suite (engine tests, then the built site in
#                headless Chromium); the site is built with quick figures (small training
#                budgets, ATLAS_QUICK_FIGURES=1, in build/quick-figures)
#   make train   train the MLP on Fashion-MNIST and print its test accuracy
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
KATEX  := 0.19.1
PORT   ?= 8000
# pytest's worker processes (pytest-xdist): one a core; WORKERS=0 runs the tests in one process.
# A file's tests run on one worker (loadfile), so a fixture a file shares is made once: the site
# built for tests/site, every page's blocks run for tests/test_pages.py.
WORKERS ?= auto
ifneq ($(shell echo 'x$(WORKERS)' | grep -Ex 'x(auto|[0-9]+)'),x$(WORKERS))
$(error WORKERS is auto or a whole number of processes (0: the tests in one process), got '$(WORKERS)')
endif
PYTEST = $(BIN)/python -m pytest -q -n $(WORKERS) --dist loadfile
APT_INSTALL = SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq

.PHONY: run test train lint unit figures quick-figures site serve bench setup data browser \
	postgres clean

$(BIN)/atlas: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,docs,rl,search,vision,bench]'
	touch $@

setup: $(BIN)/atlas data

# Fashion-MNIST from Debian's package where apt-get exists (else atlas downloads it once).
data:
	@if [ ! -f /usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz ] && command -v apt-get >/dev/null; then \
		$(APT_INSTALL) dataset-fashion-mnist; \
	fi

# Debian's PostgreSQL server, for the test of a search shared by two workers (the test
# starts its own server in a temporary directory with scripts/local-postgres).
postgres:
	@if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && command -v apt-get >/dev/null; then \
		$(APT_INSTALL) postgresql; \
	fi

# Debian's Chromium and its driver, for the browser tests.
browser:
	@if ! command -v chromedriver >/dev/null || ! command -v chromium >/dev/null; then \
		$(APT_INSTALL) chromium chromium-driver; \
	fi

# KaTeX from the npm registry, served by the site so that math renders offline.
docs/assets/katex/katex.min.js:
	rm -rf build/katex && mkdir -p build/katex docs/assets/katex
	cd build/katex && npm pack --silent katex@$(KATEX) >/dev/null && tar xzf katex-$(KATEX).tgz
	cp -r build/katex/package/dist/katex.min.js build/katex/package/dist/katex.min.css \
		build/katex/package/dist/fonts docs/assets/katex/

figures: setup
	$(BIN)/atlas figures --missing

quick-figures: setup
	ATLAS_QUICK_FIGURES=1 $(BIN)/atlas figures --missing --no-progress

site: setup docs/assets/katex/katex.min.js figures
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

serve:
	@echo "Deep Learning Atlas: open http://127.0.0.1:$(PORT)/"
	$(BIN)/python -m http.server $(PORT) --bind 127.0.0.1 --directory site

run: site serve

lint: setup
	$(BIN)/ruff check atlas tests benchmarks mkdocs_hooks.py

unit: setup
	$(PYTEST) --ignore=tests/site

test: lint quick-figures docs/assets/katex/katex.min.js browser postgres
	ATLAS_QUICK_FIGURES=1 $(PYTEST)

train: setup
	$(BIN)/atlas train mlp

bench: setup
	$(BIN)/python benchmarks/bench_mlp.py --threads 2
	$(BIN)/python benchmarks/bench_mlp.py --threads 1
	$(BIN)/python benchmarks/bench_mlp.py --startup
	$(BIN)/python benchmarks/bench_conv.py --threads 2
	$(BIN)/python benchmarks/bench_rnn.py --threads 2
	$(BIN)/python benchmarks/bench_rnn.py --startup
	$(BIN)/python benchmarks/bench_graph.py --threads 2
	$(BIN)/python benchmarks/bench_dcgan.py --threads 2
	$(BIN)/python benchmarks/bench_style.py --threads 2

clean:
	rm -rf $(VENV) build site *.egg-info .pytest_cache .ruff_cache docs/assets/katex
	find atlas tests -name __pycache__ -type d -exec rm -rf {} +
