# Two commands on a fresh machine with Python 3.11+ and make: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install browser run test bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: install
	$(PY) app.py $(ARGS)

# The sandbox story runs in Debian's chromium (Playwright's own browser download does not work offline).
browser:
	@if [ ! -x /usr/bin/chromium ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "Installing Debian's chromium for the browser test..."; \
			(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
				|| echo "Could not install chromium: the browser test will be skipped."; \
		else \
			echo "Chromium is missing: install Debian's 'chromium' package (as root: apt-get install -y chromium) to run the browser test; it is skipped until then."; \
		fi; \
	fi

test: install browser
	$(PY) -m pytest $(PYTEST_ARGS)

bench: install
	$(PY) -m bench

clean:
	rm -rf $(VENV) .pytest_cache
