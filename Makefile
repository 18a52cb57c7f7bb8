# Deep Learning Atlas. Two commands, each works alone from a fresh clone:
#   make run    set up, train the MLP on Fashion-MNIST, print its test accuracy
#   make test   set up, run the whole test suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: run test lint bench setup data clean

$(BIN)/atlas: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

setup: $(BIN)/atlas data

# Fashion-MNIST from Debian's package where apt-get exists (else atlas downloads it once).
data:
	@if [ ! -f /usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz ] && command -v apt-get >/dev/null; then \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq dataset-fashion-mnist; \
	fi

run: setup
	$(BIN)/atlas train mlp

test: setup
	$(BIN)/ruff check atlas tests benchmarks
	$(BIN)/python -m pytest -q

bench: setup
	$(BIN)/pip install --quiet -e '.[bench]'
	$(BIN)/python benchmarks/bench_mlp.py --threads 2
	$(BIN)/python benchmarks/bench_mlp.py --threads 1
	$(BIN)/python benchmarks/bench_mlp.py --startup

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
	find atlas tests -name __pycache__ -type d -exec rm -rf {} +
