# `make run` sets up a virtualenv and runs the daemon on the default database (data/archiver.db).
# `make test` sets up the same virtualenv and runs the test suite in a loopback-only network.
VENV ?= .venv
PY := $(VENV)/bin/python

# pywb (the replay tool test_warc replays exports in) pins old versions of libraries Datasette
# needs: it gets a virtualenv of its own.
PYWB_VENV ?= .venv-pywb

.PHONY: setup run test quality bench bench-bodies bench-warc clean

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

$(PYWB_VENV)/bin/wayback:
	python3 -m venv $(PYWB_VENV)
	$(PYWB_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(PYWB_VENV)/bin/python -m pip install --quiet 'pywb==2.10.0'

test: setup $(PYWB_VENV)/bin/wayback
	tests/browser-deps
	tests/isolated $(PY) -m pytest -q -p no:cacheprovider

quality: setup
	$(PY) bench/quality.py

bench: setup
	$(PY) bench/fetch_throughput.py

bench-bodies: setup
	$(PY) bench/body_storage.py

bench-warc: setup
	$(PY) bench/warc_bench.py

clean:
	rm -rf $(VENV) $(PYWB_VENV) build *.egg-info
