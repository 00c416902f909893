# `make run` sets up a virtualenv and runs the daemon on the default database (data/archiver.db).
# `make test` sets up the same virtualenv and runs the test suite in a loopback-only network.
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: setup run test quality bench bench-bodies clean

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

# Bytecode for our own modules, as an installed package has it (editable installs compile on
# first import, which PYTHONDONTWRITEBYTECODE turns into compiling at every start).
setup: $(VENV)/.installed
	$(PY) -m compileall -q archiver

run: setup
	$(VENV)/bin/archiver run

test: setup
	tests/browser-deps
	tests/isolated $(PY) -m pytest -q -p no:cacheprovider

quality: setup
	$(PY) bench/quality.py

bench: setup
	$(PY) bench/fetch_throughput.py

bench-bodies: setup
	$(PY) bench/body_storage.py

clean:
	rm -rf $(VENV) build *.egg-info
