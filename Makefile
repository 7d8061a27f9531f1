# Two entry points for a fresh machine: `make demo` and `make test`.
# Each creates .venv and installs the project (with its dev tools) on first use.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint unit bench clean prometheus chromium

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)  ## the daemon on the simulated cluster, fed by a real ServeGen trace
	$(BIN)/gpusteward run --scenario quickstart --fresh

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

# The real-component suites need Debian's chromium and prometheus: installed here, so the
# Prometheus and browser tests run (not skip) on any fresh machine, CI included.
unit: $(STAMP) chromium prometheus
	GPUSTEWARD_REQUIRE_PROMETHEUS=1 $(BIN)/pytest

test: lint unit  ## quality gates, then the whole test suite

# Debian's prometheus + promtool, for the Prometheus integration tests. Idempotent: a no-op when both are on PATH. Needs root (CI) or sudo.
prometheus:
	@if command -v prometheus >/dev/null && command -v promtool >/dev/null; then \
	  echo "prometheus: $$(prometheus --version 2>&1 | head -n1)"; \
	else \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends prometheus >/dev/null && \
	  prometheus --version 2>&1 | head -n1; \
	fi

# Debian's chromium, for the web chat's browser test (Playwright drives it; Playwright's
# own browser download does not work here). Idempotent: a no-op when it is on PATH.
chromium:
	@if command -v chromium >/dev/null; then \
	  echo "chromium: $$(chromium --version 2>/dev/null | head -n1)"; \
	else \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null && \
	  chromium --version 2>/dev/null | head -n1; \
	fi

bench: $(STAMP)
	$(BIN)/python benchmarks/sim_speed.py

clean:
	rm -rf $(VENV) .gpusteward .pytest_cache .mypy_cache .ruff_cache
