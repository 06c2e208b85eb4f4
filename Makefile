# ecombus tasks. `make help` lists them. Everything installs itself into .venv on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help install browser demo down test test-unit test-integration lint schemas-check bench jars tools clean deploy-render deploy-check chaos chaos-bounded chaos-mutations

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  make %-18s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(STAMP): pyproject.toml
	@echo "==> creating $(VENV) and installing ecombus with its test and dev extras"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install -q --upgrade pip
	@$(BIN)/python -m pip install -q -e '.[test,dev]'
	@touch $(STAMP)

install: $(STAMP) ## create .venv and install the project (editable) with test and dev extras

jars: install ## fetch the Kafka broker's jars from Maven Central (cached; first run only)
	@$(BIN)/ecombus local fetch

demo: install ## run the whole local bus (broker, registry, services, simulators) and push a scenario through it
	@$(BIN)/ecombus demo

down: install ## stop everything `make demo` started
	@$(BIN)/ecombus down

lint: install ## ruff, mypy, and the layering rule (import-linter contracts in pyproject.toml)
	@echo "==> ruff"
	@$(BIN)/ruff check bus services simulators tests bench
	@echo "==> mypy"
	@$(BIN)/mypy
	@echo "==> import contracts (docs/architecture.md: layers point one way)"
	@$(BIN)/lint-imports --no-cache

schemas-check: install ## event schemas FULL_TRANSITIVE-compatible with the previous release (git)
	@echo "==> schemas compatible with the previous release"
	@$(BIN)/ecombus schemas check --against-git auto

# $(call apt_tool,COMMAND,PACKAGE,WHAT IT IS FOR): install a Debian package for a tool when the tool is
# missing and this is root with apt-get; otherwise say why not (the targets that need it say what
# they do without it).
define apt_tool
	@if command -v $(1) >/dev/null 2>&1; then echo "==> $(1): $$(command -v $(1))"; \
	elif [ "$$(id -u)" != 0 ]; then echo "==> $(1) not installed: not root (as root: apt-get install $(2))"; \
	elif ! command -v apt-get >/dev/null 2>&1; then echo "==> $(1) not installed: no apt-get here"; \
	elif (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
		--no-install-recommends $(2)) >/dev/null 2>&1; then echo "==> $(1) installed ($(3)): $$(command -v $(1))"; \
	else echo "==> $(1) not installed: apt-get install $(2) failed (offline?)"; fi
endef

tools: ## install promtool (Debian package prometheus) for the metrics lint test, if missing and possible
	$(call apt_tool,promtool,prometheus,lints /metrics in the tests)

browser: ## install Debian's Chromium for the console's browser tests (Playwright drives it), if missing and possible
	$(call apt_tool,chromium,chromium,the console's end-to-end tests in a real browser)

test: install tools browser jars lint schemas-check ## lint, then every test (unit and integration, against a real broker)
	@echo "==> pytest (unit + integration)"
	@$(BIN)/pytest $(PYTEST_ARGS)

test-unit: install ## unit tests only (no broker)
	@$(BIN)/pytest -m "not integration" $(PYTEST_ARGS)

test-integration: install jars browser ## integration tests only (real broker)
	@$(BIN)/pytest -m integration $(PYTEST_ARGS)

CHAOS_ARGS ?= --full

chaos: install jars ## the whole bus under faults, then every invariant (ecombus chaos $(CHAOS_ARGS); about 35 min)
	@$(BIN)/ecombus chaos $(CHAOS_ARGS)

chaos-bounded: install jars ## the bounded chaos run of CI alone (tests/chaos/test_bounded_run.py; under 10 min)
	@$(BIN)/pytest -q tests/chaos/test_bounded_run.py $(PYTEST_ARGS)

chaos-mutations: install jars ## a deliberate bug per invariant, each run must fail on it (about 25 min)
	@ECOMBUS_CHAOS_MUTATIONS=1 $(BIN)/pytest -q -m mutation tests/chaos $(PYTEST_ARGS)

deploy-render: install ## regenerate deploy/k8s and deploy/grafana from bus/tools/deploy and deploy/*.yaml
	@$(BIN)/python -m bus.tools.deploy

deploy-check: install ## manifests, alerts, dashboard: drift, kustomize, kubernetes-validate, promtool
	@$(BIN)/python -m bus.tools.deploy --check
	@$(BIN)/pytest -q -p no:cacheprovider tests/unit/deploy

bench: install jars ## benchmarks, each printed beside its baseline measured in the same run (installs wrk as root)
	$(call apt_tool,wrk,wrk,the webhook benchmark's load generator)
	@$(BIN)/python -m bench

clean: ## remove the venv and caches (keeps the downloaded jars in ~/.cache/ecombus)
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
