# Two commands for a fresh clone (see README): `make book` and `make test`. Each creates .venv first.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: book test demo install clean

$(STAMP): requirements.txt pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $(STAMP)

install: $(STAMP)

# Lint and formatting at 88 columns (ruff), the unit tests, then every chapter notebook top to bottom in quick mode.
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -q tests
	CGAN_QUICK=1 $(BIN)/python -m pytest -q --nbmake --nbmake-timeout=600 notebooks

# The HTML book in _build/html; notebooks are executed during the build, warnings fail it.
book: $(STAMP) demo
	CGAN_PROGRESS=text CGAN_CHECK_FIGURES=1 $(BIN)/jupyter-book build . --all -W --keep-going

# Files the book serves itself (published under _static/), so it works offline: onnxruntime-web, TensorFlow.js (its
# minified ES2017 bundle, for chapter 2's in-page GAN) and MathJax from npm (pinned by web/package-lock.json), the live widgets'
# one script and stylesheet (web/cgan.js, web/cgan.css), and the shipped generator exported to ONNX.
DEMO := _offline/demo
ORT := web/node_modules/onnxruntime-web/dist
demo: $(STAMP)
	cd web && npm ci --no-audit --no-fund --loglevel=error
	mkdir -p $(DEMO)
	cp $(ORT)/ort.wasm.min.js $(ORT)/ort-wasm-simd-threaded.mjs $(ORT)/ort-wasm-simd-threaded.wasm $(DEMO)/
	cp web/node_modules/@tensorflow/tfjs/dist/tf.es2017.min.js $(DEMO)/
	cp web/cgan.js web/cgan.css $(DEMO)/
	rm -rf _offline/mathjax && mkdir -p _offline/mathjax
	cd web/node_modules/mathjax/es5 && cp -r tex-mml-chtml.js input output ui a11y sre adaptors ../../../../_offline/mathjax/
	$(BIN)/python -m cgan_lib export-onnx --checkpoint cgan_lib/pretrained/cdcgan.pt --out $(DEMO)/cdcgan.onnx --fallback $(DEMO)/fallback.png

clean:
	rm -rf _build _offline
