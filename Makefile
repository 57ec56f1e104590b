# Two commands for a fresh clone (see README): `make book` and `make test`. Each creates .venv first.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: book test unit notebooks install clean

$(STAMP): requirements.txt pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $(STAMP)

install: $(STAMP)

# The unit tests, then every chapter notebook top to bottom in quick mode.
test: $(STAMP)
	$(BIN)/python -m pytest -q tests
	CGAN_QUICK=1 $(BIN)/python -m pytest -q --nbmake --nbmake-timeout=600 notebooks

# The HTML book in _build/html; notebooks are executed during the build, warnings fail it.
book: $(STAMP)
	CGAN_PROGRESS=text $(BIN)/jupyter-book build . --all -W --keep-going

clean:
	rm -rf _build
