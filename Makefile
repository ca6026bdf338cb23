# Two commands set up everything on a fresh machine:  `make run`  and  `make test`.
VENV    := .venv
PY      := $(VENV)/bin/python
UV      := $(VENV)/bin/uv
STAMP   := $(VENV)/.installed

# uv's default hard links trip NLTK's file-safety check on llama-index's bundled data: copy instead.
export UV_LINK_MODE := copy
# llama-cpp-python is built from source for this CPU (skipping the multimodal part halves the build), but
# without AMX: where the CPU reports AMX and the kernel has not enabled it (seen on a Xeon VM), -march=native
# code dies with "Illegal instruction" at the first prompt. -mno-amx-tile also turns off AMX-INT8/BF16.
export CMAKE_ARGS ?= -DLLAVA_BUILD=OFF -DCMAKE_C_FLAGS=-mno-amx-tile -DCMAKE_CXX_FLAGS=-mno-amx-tile
export GRADIO_ANALYTICS_ENABLED := False
export ANONYMIZED_TELEMETRY := False
export HF_HUB_OFFLINE := 1

.PHONY: install browser run test test-fast lint format eval smoke bench clean lock

install: $(STAMP)

$(STAMP): pyproject.toml requirements.lock
	test -x $(PY) || python3.11 -m venv $(VENV) || python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet uv==0.13.8
	$(UV) pip install --python $(PY) -r requirements.lock
	$(UV) pip install --python $(PY) --no-deps -e .
	$(PY) -m assistant prepare
	touch $(STAMP)

## run: install, ingest seeds/ when the archive is empty, start the chat UI on http://127.0.0.1:7860
run: install
	$(PY) -m assistant serve --seed seeds

## browser: Debian's Chromium for the UI tests (Playwright drives it; it never downloads a browser)
browser:
	@command -v chromium >/dev/null || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium chromium-driver; }

## test: install, the eval smoke gate, then the whole suite (real models and a real browser included)
test: install browser
	$(MAKE) --no-print-directory smoke
	$(PY) -m pytest

smoke: install
	$(PY) -m evals run evals/sets/smoke --backend extractive --out .smoke-run --data-dir .smoke-data \
	  --fail-under accuracy=0.85 --fail-under refusal_recall=0.75 --fail-under citation_precision=0.9

test-fast: install
	$(PY) -m pytest -m "not slow and not browser"

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

lock:
	$(UV) pip compile pyproject.toml --extra model --extra dev --python-version 3.11 -o requirements.lock

eval: install
	$(PY) -m evals run evals/sets/seeds_dev

## bench: speed figures (ingest, retrieval at 1k/10k/100k passages, answers); run on a quiet machine
bench: install
	$(PY) -m evals.bench all

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache .smoke-run .smoke-data
