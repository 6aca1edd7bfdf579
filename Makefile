# Two commands on a fresh machine with Python 3.11+ and make: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
RUN_STAMP := $(VENV)/.installed-run
TEST_STAMP := $(VENV)/.installed-test

.PHONY: install browser run lint test bench clean

install: $(TEST_STAMP)

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# `make run` needs the product and the sandbox's extra; `make test` everything.
$(RUN_STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[sandbox]'
	touch $(RUN_STAMP)

$(TEST_STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[sandbox,test]'
	touch $(RUN_STAMP) $(TEST_STAMP)

run: $(RUN_STAMP)
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
	@# An emoji font makes the screenshots show what Slack shows; nothing fails without it.
	@if [ ! -e /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-noto-color-emoji >/dev/null 2>&1 || true; \
	fi

# Linters first (quiet when all is well), so the last line of `make test` stays pytest's summary.
lint: install
	$(VENV)/bin/ruff check --quiet .
	$(PY) -m mypy
	$(VENV)/bin/lint-imports --no-cache > $(VENV)/lint-imports.log || (cat $(VENV)/lint-imports.log; exit 1)

test: install browser lint
	$(PY) -m pytest $(PYTEST_ARGS)

bench: install
	$(PY) -m bench

clean:
	rm -rf $(VENV) .pytest_cache
