# Two commands set up everything on a fresh machine:  `make run`  and  `make test`.
VENV    := .venv
PY      := $(VENV)/bin/python
UV      := $(VENV)/bin/uv
STAMP   := $(VENV)/.installed

# uv's default hard links trip NLTK's file-safety check on llama-index's bundled data: copy instead.
export UV_LINK_MODE := copy
# llama-cpp-python is built from source (skipping the multimodal part halves the build) for the instruction
# sets this CPU has, named one by one rather than -march=native: where the CPU reports AMX but the kernel has
# not enabled it (seen on a Xeon VM), native code dies with "Illegal instruction" at the first prompt.
cpu_has = $(shell grep -qw $(1) /proc/cpuinfo 2>/dev/null && echo ON || echo OFF)
export CMAKE_ARGS ?= -DLLAVA_BUILD=OFF -DGGML_NATIVE=OFF -DGGML_AVX=$(call cpu_has,avx) \
  -DGGML_AVX2=$(call cpu_has,avx2) -DGGML_FMA=$(call cpu_has,fma) -DGGML_F16C=$(call cpu_has,f16c) \
  -DGGML_BMI2=$(call cpu_has,bmi2) -DGGML_AVX_VNNI=$(call cpu_has,avx_vnni) \
  -DGGML_AVX512=$(call cpu_has,avx512f) -DGGML_AVX512_VBMI=$(call cpu_has,avx512vbmi) \
  -DGGML_AVX512_VNNI=$(call cpu_has,avx512_vnni) -DGGML_AVX512_BF16=$(call cpu_has,avx512_bf16)
# The built llama-cpp-python wheel is kept in a folder named by its build flags, so a second venv on this
# machine installs it in seconds instead of compiling for 5 minutes (uv's own cache of built wheels is keyed
# without the flags and was rebuilt now and then when PyPI's index answer changed), and other flags build anew.
LLAMA_VERSION := $(shell sed -n 's/^llama-cpp-python==//p' requirements.lock)
WHEEL_CACHE   ?= $(HOME)/.cache/news-assistant/wheels
LLAMA_WHEELS  := $(WHEEL_CACHE)/llama-cpp-python-$(LLAMA_VERSION)-$(shell echo '$(CMAKE_ARGS)' | sha256sum | cut -c1-12)
export GRADIO_ANALYTICS_ENABLED := False
export ANONYMIZED_TELEMETRY := False
export HF_HUB_OFFLINE := 1

.PHONY: print-cmake-args install browser run test test-fast lint format eval smoke bench clean lock

install: $(STAMP)

print-cmake-args:
	@echo $$CMAKE_ARGS
	@echo "llama-cpp-python wheels for these flags: $(LLAMA_WHEELS)"

$(STAMP): pyproject.toml requirements.lock
	test -x $(PY) || python3.11 -m venv $(VENV) || python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet uv==0.13.8
	ls $(LLAMA_WHEELS)/llama_cpp_python-$(LLAMA_VERSION)-*.whl >/dev/null 2>&1 || { \
	  echo "building llama-cpp-python $(LLAMA_VERSION) for this CPU (about 5 minutes on 2 cores; kept in $(LLAMA_WHEELS))"; \
	  rm -rf $(LLAMA_WHEELS).part \
	  && $(VENV)/bin/pip wheel --quiet --no-deps --wheel-dir $(LLAMA_WHEELS).part llama-cpp-python==$(LLAMA_VERSION) \
	  && rm -rf $(LLAMA_WHEELS) && mv $(LLAMA_WHEELS).part $(LLAMA_WHEELS); }
	$(UV) pip install --python $(PY) --find-links $(LLAMA_WHEELS) -r requirements.lock
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
	$(PY) -m pytest --durations=25

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
