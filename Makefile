# The README's two commands: `make fly` (set up, then render the default flythrough) and
# `make test` (set up, then run the tests). Both create .venv on first use; `make studio` serves the
# web app on http://localhost:7860.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: setup test fly studio bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test,batch,studio]'
	touch $(STAMP)

fly: $(STAMP)
	$(VENV)/bin/perpetual fly --out flight.mp4

studio: $(STAMP)
	$(VENV)/bin/perpetual studio

test: $(STAMP)
	$(PY) -m pytest

bench: $(STAMP)
	$(PY) benchmarks/bench_render.py
	$(PY) benchmarks/bench_world.py
	$(PY) benchmarks/bench_fly.py

clean:
	rm -rf $(VENV) .pytest_cache
