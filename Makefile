# dataops-monitoring: the two commands a new user needs are `make render STACK=staging`
# (offline preview, no CLI or cluster) and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# The e2e's control plane (etcd, kube-apiserver, controller manager, scheduler, kwok), built where
# Go is installed: the live kube-state-metrics and spark-operator tests and the game day run on it.
BUILD_CONTROL_PLANE = if command -v go >/dev/null; then $(PY) -m e2e.build --only etcd --only kubernetes --only kwok; fi
STACK ?= staging
REQUIREMENTS := requirements.txt requirements-dev.txt exporters/iceberg/requirements.txt policy/requirements.txt

.PHONY: help venv render render-all test test-live test-fast lint tools pulumi-yaml readme-settings bench-iceberg bench-iceberg-server slo-report clean

help:
	@echo "make render STACK=staging|prod  offline preview -> build/<stack>/resources.json"
	@echo "make test                       lint + all tests (make tools: pinned promtool/amtool/prometheus in .tools/bin, groovy)"
	@echo "make test-live                  the programs we deploy for real: Airflow, PySpark + jmx_exporter, Thanos, kube-state-metrics (Go, big installs)"
	@echo "make test-fast                  lint + unit and mock-engine tests only (no real binaries)"
	@echo "make lint                       ruff"
	@echo "make checkov STACK=prod         checkov's Kubernetes checks on our objects (skips: policy/checkov-skips.yaml)"
	@echo "make checkov-chart STACK=prod   the same on kube-prometheus-stack rendered with our values (needs helm)"
	@echo "make pulumi-yaml                regenerate Pulumi.yaml and the README settings table from settings.py"
	@echo "make bench-iceberg              Iceberg exporter benchmark"
	@echo "make bench-iceberg-server       Iceberg exporter HTTP server benchmark (scrape latency under load)"
	@echo "make slo-report STACK=prod      MTTD budget of the alerts that stack deploys, SLO thresholds"
	@echo "make import-commands STACK=prod pulumi import commands (with --parent/--provider) for existing objects"
	@echo "make gameday                    break every critical alert's inputs under real Prometheus/Alertmanager, prod timings (~9 min)"
	@echo "make diff STACK=prod BASE=<ref>  reviewer's report (Markdown) of what changes between BASE and the working tree"
	@echo "make e2e                        the real Pulumi engine against a local control plane: dev, staging, prod (needs Go; e2e/README.md)"
	@echo "make up STACK=dev / make down   deploy one stack on the local control plane with the real engine / destroy it and stop everything"
	@echo "make release VERSION=x.y.z      move CHANGELOG's Unreleased entries under x.y.z, commit, tag vx.y.z (docs/releasing.md)"

# The virtualenv is rebuilt whenever a requirements file changes.
$(VENV)/.installed: $(wildcard $(REQUIREMENTS))
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check $(foreach r,$(wildcard $(REQUIREMENTS)),-r $(r))
	touch $@

venv: $(VENV)/.installed

render: venv
	$(PY) -m tools.render $(STACK)$(if $(STRICT), --strict)

render-all: venv
	$(PY) -m tools.render staging
	$(PY) -m tools.render prod

# Reviewer's report: STACK rendered at BASE (temporary git worktree) and in the working tree,
# compared as Markdown (docs/review-diff.md). OUT=file also writes it; FAIL_ON_CHANGE=1 exits 1 on any change.
BASE ?= HEAD
diff: venv
	$(PY) -m tools.review_diff $(STACK) --base $(BASE)$(if $(OUT), --out $(OUT))$(if $(FAIL_ON_CHANGE), --fail-on-change)

.PHONY: diff

# promtool, Prometheus, Alertmanager/amtool and the real exporters used by the tests: the
# Debian unstable versions pinned in tools/tool-versions.txt, unpacked into .tools/bin (no
# system install, no root, no service started; a no-op when already there).
tools: venv tools-groovy
	tools/fetch_tools.sh
	$(PY) -m tools.live_programs install

test: venv tools checkov-venv lint
	$(PY) -m pytest -q -m "not heavy" tests

# The programs we deploy, run for real where they take minutes or a big install: Airflow and
# PySpark (own venvs, tools/live_programs.py), Thanos with a backfilled bucket, kube-state-metrics
# on the e2e's local API server. `.ci/run` runs it after `make test`.
test-live: venv tools
	$(PY) -m tools.live_programs install --heavy
	@# The kube-state-metrics and spark-operator tests run on the e2e's control plane.
	$(BUILD_CONTROL_PLANE)
	$(PY) -m pytest -q -m heavy tests

# Unit and mock-engine tests: no real program (promtool, Prometheus, groovy, exporters) runs,
# and no sweep marked slow (`make test` runs them all).
test-fast: venv lint
	$(PY) -m pytest -q -n 2 -m "not live and not tools and not heavy and not slow" tests

lint: venv
	$(PY) -m ruff check .

# checkov (tests/test_checkov.py) in its own venv: its pins (cachetools<6, packaging<24) clash
# with the Iceberg exporter's, so it cannot share .venv. Rebuilt when requirements-checkov.txt changes.
CHECKOV_VENV := .venv-checkov
$(CHECKOV_VENV)/.installed: requirements-checkov.txt
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-checkov.txt
	touch $@

checkov-venv: $(CHECKOV_VENV)/.installed

# checkov on our own objects of one stack (what tests/test_checkov.py checks), every failure listed.
checkov: venv checkov-venv
	$(PY) -m tools.checkov_scan $(STACK)

# checkov on kube-prometheus-stack rendered with our values (docs/security.md): needs helm (built
# here from its Go module where Go is installed) and the chart (CHART=path or repository chart;
# tools/chart_from_git.py assembles it from git mirrors), neither of which the tests assume.
CHART ?= kube-prometheus-stack
checkov-chart: venv checkov-venv
	-command -v go >/dev/null && $(PY) -m e2e.build --group chart
	$(PY) -m tools.checkov_chart $(STACK) --chart $(CHART)

.PHONY: checkov-venv checkov checkov-chart

pulumi-yaml: venv
	$(PY) -m tools.pulumi_yaml > Pulumi.yaml
	$(PY) -m tools.settings_table --write

readme-settings: venv
	$(PY) -m tools.settings_table --write

bench-iceberg: venv
	$(PY) benchmarks/bench_iceberg.py

bench-iceberg-server: venv
	$(PY) benchmarks/bench_iceberg_server.py

slo-report: venv
	$(PY) -m tools.slo_report --stack $(STACK)

# `pulumi import` commands (with --parent and --provider) that adopt existing objects under the
# URNs the program registers: README, "First deploy to a cluster that already runs monitoring".
import-commands: venv
	@$(PY) -m tools.import_commands $(STACK)

.PHONY: import-commands

# Game day (docs/gameday.md): every critical alert's scenario against real Prometheus 3 and
# Alertmanager with production timings (~9 min), plus every dashboard query; the prod stack by default.
GAMEDAY_STACK ?= prod
gameday: venv tools
	@# The real spark-operator runs on the e2e's control plane with PySpark's spark-submit
	@# (tools/gameday/real_spark.py): PySpark installed, the control plane built where Go is.
	$(PY) -m tools.live_programs install --heavy
	$(BUILD_CONTROL_PLANE)
	$(PY) -m tools.gameday --stack $(GAMEDAY_STACK)

gameday-dashboards: venv tools
	$(PY) -m tools.gameday --stack $(GAMEDAY_STACK) --dashboards-only

.PHONY: gameday gameday-dashboards

# Groovy (Debian's package) evaluates the Jenkinsfile in tests/test_jenkinsfile.py. Debian's
# groovy launcher runs /usr/lib/jvm/default-java unless JAVA_HOME is set, so the
# default-jre-headless link to the installed JRE comes along; installs only when groovy won't run.
tools-groovy:
	@groovy --version >/dev/null 2>&1 \
	  || { [ "$$(id -u)" = 0 ] && SUDO= || SUDO=sudo; \
	       $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends \
	         groovy default-jre-headless >/dev/null; }

# The Iceberg exporter image (exporters/iceberg/Dockerfile), tagged with the commit by default.
# Jenkins on main: make image, trivy scan, make push-image, each with IMAGE_TAG=<sha> REGISTRY=<registry>.
REGISTRY ?= dataops
IMAGE_TAG ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo dev)
IMAGE := $(REGISTRY)/iceberg-exporter:$(IMAGE_TAG)

image:
	docker build -f exporters/iceberg/Dockerfile -t $(IMAGE) .

push-image:
	docker push $(IMAGE)

.PHONY: tools-groovy image push-image

# The real engine end to end (e2e/README.md). The Go parts are built once into a cache outside
# the clone (~/.cache/dataops-monitoring/e2e, DATAOPS_E2E_CACHE moves it), keyed by version.
e2e-build: venv
	$(PY) -m e2e.build

e2e: venv tools
	$(PY) -m e2e.run test

# make up STACK=<name>: dev unless STACK is given on the command line.
up: venv tools
	$(PY) -m e2e.run up --stack $(if $(filter command line,$(origin STACK)),$(STACK),dev)

down: venv
	$(PY) -m e2e.run down

.PHONY: e2e-build e2e up down

# A release (docs/releasing.md): clean tree, new higher version, upgrade notes present; then
# CHANGELOG.md is updated, committed and tagged vVERSION. Nothing is pushed.
release: venv
	@test -n "$(VERSION)" || { echo "usage: make release VERSION=x.y.z"; exit 2; }
	$(PY) -m tools.release $(VERSION)

.PHONY: release

clean:
	rm -rf build .pytest_cache
