# `make test` on a fresh clone creates .venv, installs the pinned dependencies and runs everything.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export AWS_DEFAULT_REGION ?= us-east-1
export SAM_CLI_TELEMETRY := 0

.PHONY: venv test lint typecheck validate unit build clean

venv: $(STAMP)

$(STAMP): requirements/dev.txt requirements/constraints.txt layers/courier/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements/dev.txt -c requirements/constraints.txt
	touch $@

test: lint typecheck validate unit

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

validate: $(STAMP)
	$(BIN)/sam validate --template template.yaml
	$(BIN)/cfn-lint template.yaml

unit: $(STAMP)
	$(BIN)/pytest

# `sam build` needs python3.13 on PATH; with pyenv, PYENV_VERSION lists it beside 3.11.
build: $(STAMP)
	PYENV_VERSION=$${PYENV_VERSION:-3.11.7:3.13.0} $(BIN)/sam build

clean:
	rm -rf $(VENV) .aws-sam .pytest_cache .mypy_cache .ruff_cache
