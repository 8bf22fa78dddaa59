# `make test` on a fresh clone creates .venv, installs the pinned dependencies and runs everything.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export AWS_DEFAULT_REGION ?= us-east-1
export SAM_CLI_TELEMETRY := 0

.PHONY: venv test lint typecheck validate unit soak build clean demo up bench

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

# The chaos soak at length (make test runs 300 messages): prints the counts it asserts on.
SOAK_MESSAGES ?= 5000
soak: $(STAMP)
	SOAK_MESSAGES=$(SOAK_MESSAGES) $(BIN)/pytest tests/faults/test_soak.py -q --timeout=1800

# The property tests (tests/property) at length: HYPOTHESIS_PROFILE=fuzz, 20,000 random examples
# per test (`make test` runs the derandomized `ci` profile); FUZZ_EXAMPLES=500 for fewer. A
# failure prints the example and the @reproduce_failure blob that replays it.
FUZZ_EXAMPLES ?=
FUZZ_TIMEOUT ?= 3600
.PHONY: fuzz
fuzz: $(STAMP)
	HYPOTHESIS_PROFILE=fuzz HYPOTHESIS_MAX_EXAMPLES=$(FUZZ_EXAMPLES) \
		$(BIN)/pytest tests/property -q -p no:cacheprovider --timeout=$(FUZZ_TIMEOUT)

# `sam build` needs python3.13 on PATH; with pyenv, PYENV_VERSION lists it beside 3.11.
# The layer must ship python3.13 bytecode (layers/courier/Makefile): Lambda cannot write it.
build: $(STAMP)
	PYENV_VERSION=$${PYENV_VERSION:-3.11.7:3.13.0} $(BIN)/sam build
	@test -f .aws-sam/build/CourierLayer/python/courier/__pycache__/sender.cpython-313.pyc \
		|| { echo "sam build: the courier layer has no python3.13 bytecode" >&2; exit 1; }

# The whole bundle on this machine, without Docker or AWS (DESIGN §7): messages through the
# queue, the event source mapping and the real sender to local SMTP servers in the six TLS
# modes; prints a summary and leaves the mail in out/demo/ (*.eml, index.html).
demo: $(STAMP)
	$(BIN)/python -m local demo

# The same local stack, kept running until Ctrl-C (endpoints and SMTP URIs are printed).
up: $(STAMP)
	$(BIN)/python -m local up

clean:
	rm -rf $(VENV) $(BENCH_VENV) .aws-sam .pytest_cache .mypy_cache .ruff_cache out

# `make bench`: courier against the usual way, as ratios (bench/results.txt). Its own venv, without
# aws-sam-cli, whose awscrt makes `import boto3` slower than in Lambda; on python3.13 (Lambda's
# runtime) by default: BENCH_PYTHON=python3 works too. BENCH_ARGS="--delay-ms 20" and so on.
BENCH_PYTHON ?= python3.13
BENCH_VENV := .venv-bench
BENCH_STAMP := $(BENCH_VENV)/.installed

bench: $(BENCH_STAMP)
	PYTHONPATH=layers/courier $(BENCH_VENV)/bin/python -m bench $(BENCH_ARGS)

$(BENCH_STAMP): bench/requirements.txt requirements/constraints.txt layers/courier/requirements.txt
	PYENV_VERSION=$${PYENV_VERSION:-3.11.7:3.13.0} $(BENCH_PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(BENCH_VENV)/bin/python -m pip install --quiet -r bench/requirements.txt -c requirements/constraints.txt
	touch $@
