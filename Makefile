# The two commands a newcomer needs:
#   make run    set up .venv and run the chat app (apps/chat) on http://127.0.0.1:4000
#   make test   set up everything the tests need and run the whole suite (as CI does)
# and, while working:
#   make check  the fast lane: every test not marked slow (no node OS processes,
#               Redis clusters, browser or Node), in under a minute
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# One stamp per set of Python packages, so that `make run` installs only
# what the chat needs (beamish, and redis for --cluster: the `redis` extra)
# and `make test` adds the `test` extra on top of it.
RUN_STAMP := $(VENV)/.installed-run
TEST_STAMP := $(VENV)/.installed-test

.PHONY: run demo test check bench deps clean

$(RUN_STAMP): setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[redis]'
	touch $@

$(TEST_STAMP): $(RUN_STAMP)
	$(BIN)/pip install -q -e '.[test]'
	touch $@

deps: $(TEST_STAMP)
	bash tools/install-test-deps

run: $(RUN_STAMP)
	$(BIN)/beamish run apps.chat $(ARGS)

demo: $(RUN_STAMP)
	$(BIN)/python tools/demo.py

test: deps
	$(BIN)/python -m pytest $(PYTEST_ARGS)

check: $(TEST_STAMP)
	$(BIN)/python -m pytest -q -m 'not slow' $(PYTEST_ARGS)

bench: $(TEST_STAMP)
	$(BIN)/python -m tools.bench

clean:
	rm -rf $(VENV) build *.egg-info
