# walloc: `make demo` and `make test` each set everything up from a fresh clone.
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip -q --disable-pip-version-check
STAMP  := $(VENV)/.installed
DATA   ?= ../shared/data
OUT    ?= out

.PHONY: setup demo test test-notorch onnx-graphs fuzz sanitize wheel-check bench-setup bench-entropy bench-cli clean

# torch is pinned to the CPU wheel that lies on this machine's disk; any other spec pulls CUDA builds.
$(STAMP): pyproject.toml setup.py $(wildcard csrc/*)
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install torch==2.13.0
	$(PIP) install 'setuptools>=77' wheel pybind11 numpy
	$(PIP) install --no-build-isolation -e '.[test]'
	touch $(STAMP)

setup: $(STAMP)

# the install for reading and writing files: the package without torch (ONNX Runtime decodes)
NOTORCH ?= .venv-notorch
NT_STAMP := $(NOTORCH)/.installed
$(NT_STAMP): pyproject.toml setup.py $(wildcard csrc/*)
	test -x $(NOTORCH)/bin/python || python3 -m venv $(NOTORCH)
	$(NOTORCH)/bin/pip -q --disable-pip-version-check install 'setuptools>=77' wheel pybind11 numpy pytest
	$(NOTORCH)/bin/pip -q --disable-pip-version-check install --no-build-isolation -e .
	touch $(NT_STAMP)

# the shipped samples (samples/, CC0) always; a Kodak image and a music clip from $(DATA) only when present
demo: setup
	@mkdir -p $(OUT)
	$(VENV)/bin/walloc models
	$(VENV)/bin/walloc encode samples/sample.png -o $(OUT)/sample.wlc -f --verify
	$(VENV)/bin/walloc decode $(OUT)/sample.wlc -o $(OUT)/sample.decoded.png -f
	$(VENV)/bin/walloc encode samples/sample.flac -o $(OUT)/sample-audio.wlc -f --verify
	$(VENV)/bin/walloc decode $(OUT)/sample-audio.wlc -o $(OUT)/sample-audio.decoded.wav -f
	$(VENV)/bin/walloc info $(OUT)/sample.wlc
	@if [ -f $(DATA)/images/kodak/kodim23.png ]; then \
	  $(VENV)/bin/walloc encode $(DATA)/images/kodak/kodim23.png -o $(OUT)/kodim23.wlc -f --verify && \
	  $(VENV)/bin/walloc decode $(OUT)/kodim23.wlc -o $(OUT)/kodim23.png -f; \
	else echo "($(DATA) not found: the Kodak part of the demo is skipped)"; fi

test: setup test-notorch
	$(PY) -m pytest

# the decode tests in the venv without torch (tests/conftest.py imports torch, so it is not loaded)
test-notorch: $(NT_STAMP)
	@! $(NOTORCH)/bin/python -c "import torch" 2>/dev/null || { echo "$(NOTORCH) holds torch"; exit 1; }
	$(NOTORCH)/bin/python -m pytest --noconftest -p no:cacheprovider tests/test_onnx.py

# the shipped ONNX graphs (models/onnx, models/releases/*/onnx), after a model changes
onnx-graphs: setup
	$(PIP) install 'onnx>=1.15'
	$(PY) -m walloc.onnx_export

fuzz: setup
	WALLOC_FUZZ_EXAMPLES=25000 $(PY) -m pytest tests/test_fuzz.py

sanitize: setup
	bash csrc/sanitize.sh

# the package as a user gets it: sdist -> wheel -> a fresh venv, used from outside the checkout
wheel-check: setup
	VENV=$(VENV) DATA=$(DATA) bash .ci/wheel_check.sh

# extra peers for the benchmarks; compressai without its deps (they would pull a CUDA torch)
bench-setup: setup
	$(PIP) install --no-build-isolation -e '.[test,bench]'
	$(PIP) install --no-deps compressai==1.2.0

bench-entropy: bench-setup
	@mkdir -p $(OUT)
	$(PY) benchmarks/bench_entropy.py --out $(OUT)/bench_entropy.json

# whole-process start-up of walloc beside Pillow's WebP one-liner (needs no extra peers)
bench-cli: setup
	@mkdir -p $(OUT)
	$(PY) benchmarks/bench_cli.py --out $(OUT)/bench_cli.json

clean:
	rm -rf $(VENV) $(NOTORCH) build *.egg-info walloc/_rans*.so $(OUT)
