# The two commands a newcomer needs: `make run` and `make test`. Both set everything up themselves.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install stack down run test test-fast lint bench soak clean browser

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt -e '.[dev,local]'
	@touch $(STAMP)

install: $(STAMP)

stack: install
	$(BIN)/jobstream stack up

down:
	@test -x $(BIN)/jobstream && $(BIN)/jobstream stack down || true

# The worker in the foreground, with the HTTP API beside it and a short demo job sent once it is up.
# Unless JOBSTREAM_API_TOKENS is set, the API accepts one local token: JOBSTREAM_API_TOKEN=dev (org "local"),
# and the demo job is that organization's, so the console signed in with `dev` shows it.
# The worker serves its metrics on a free port (or JOBSTREAM_METRICS_PORT); its log line metrics.serving gives the URL.
run: stack
	$(BIN)/jobstream migrate
	@echo "console: $$($(BIN)/jobstream stack env | sed -n "s/^export JOBSTREAM_API_URL=//p" | tr -d "'")/ui (sign in with token dev, or one of JOBSTREAM_API_TOKENS)"
	@trap 'kill $$(jobs -p) 2>/dev/null' EXIT; \
	JOBSTREAM_API_TOKENS="$${JOBSTREAM_API_TOKENS:-dev:local}" $(BIN)/jobstream api & \
	$(BIN)/jobstream demo --wait 120 $$([ -z "$${JOBSTREAM_API_TOKENS}$${JOBSTREAM_ORGANIZATION_ID}" ] && echo --org local) & \
	JOBSTREAM_METRICS_PORT="$${JOBSTREAM_METRICS_PORT:-0}" $(BIN)/jobstream worker

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check schemas storage streams
	$(BIN)/mypy

test: stack lint browser
	$(BIN)/pytest

# The console's browser test drives Debian's Chromium with Selenium; installed here when missing (as root),
# else the test is skipped locally (and fails under CI=true).
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	  { [ "$$(id -u)" = 0 ] && { DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver >/dev/null \
	      || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver >/dev/null; }; }; } \
	  || echo "note: no chromium/chromedriver (apt-get install chromium chromium-driver): the console's browser test is skipped"

# What a developer runs on every change: every test that needs no Kafka or Postgres (about 15 s).
test-fast: install
	$(BIN)/pytest -m "not stack"

bench: stack
	$(BIN)/jobstream bench

# An hour at ~30 % of capacity (not in CI): its time series and plots into docs/soak/, its verdict printed
# (exit 1 on fail). SOAK_ARGS="--duration 120" for a short one.
soak: stack
	$(BIN)/jobstream soak --results docs/soak --plots docs/soak $(SOAK_ARGS)

clean: down
	rm -rf .jobstream
