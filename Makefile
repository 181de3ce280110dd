# The two commands a newcomer needs:
#   make run    set up .venv and run the chat app (apps/chat) on http://127.0.0.1:4000
#   make test   set up everything the tests need and run the whole suite
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run demo test bench deps clean

$(STAMP): setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

deps: $(STAMP)
	bash tools/install-test-deps

run: $(STAMP)
	$(BIN)/beamish run apps.chat $(ARGS)

demo: $(STAMP)
	$(BIN)/python tools/demo.py

test: deps
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python -m tools.bench

clean:
	rm -rf $(VENV) build *.egg-info
