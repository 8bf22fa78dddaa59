# `make test` on a fresh clone creates .venv, installs the pinned dependencies and runs everything.
# It and `make demo` need python3 (3.11+) with pip; `make build` and `make bench` need python3.13
# too, found on PATH or through pyenv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LOCK := requirements/constraints.txt
export AWS_DEFAULT_REGION ?= us-east-1
export SAM_CLI_TELEMETRY := 0

.PHONY: venv test lint typecheck validate unit soak build clean demo up bench lock which-python3.13

# uv makes the virtualenvs and installs into them: pip took about 30 s here for the dev set (about
# 265 packages: aws-sam-cli and its tree), and minutes on a slow network; uv takes about 8 s,
# bytecode included (parallel downloads, then hard links from its cache: ~/.cache/uv, or
# UV_CACHE_DIR). uv is pinned too, and bootstrapped with the machine's pip into build/uv/ (git
# ignores /build/): python3 with pip is all a fresh clone needs, and `make` the only command.
UV_VERSION := 0.13.9
UV_DIR := build/uv/$(UV_VERSION)
UV := $(UV_DIR)/bin/uv

$(UV):
	@$(PYTHON) -m pip --version >/dev/null 2>&1 || { echo "installing uv needs pip for $(PYTHON):" \
		"$(PYTHON) -m ensurepip --user, or your distribution's python3-pip" >&2; exit 1; }
	PIP_ROOT_USER_ACTION=ignore $(PYTHON) -m pip install --quiet --disable-pip-version-check \
		--upgrade --target $(UV_DIR) uv==$(UV_VERSION)

# $(call check_lock,VENV): every package installed in VENV must be in the lock at that version
# ($(LOCK) is `uv pip freeze` of the dev set): a new dependency of a pinned package fails here
# instead of coming in unpinned. VENV/freeze.txt keeps what was installed.
define check_lock
$(UV) pip freeze --quiet --python $(1)/bin/python > $(1)/freeze.txt
@if grep -vxF -f $(LOCK) $(1)/freeze.txt; then \
	echo "$(1): the packages above are not pinned in $(LOCK) (make lock adds them)" >&2; exit 1; fi
endef

venv: $(STAMP)

# Built anew whenever a requirements file changes, so the venv holds exactly the lock. Bytecode is
# compiled at install (a few seconds), as pip did: where PYTHONDONTWRITEBYTECODE is set, Python
# would otherwise compile aws-sam-cli, boto3, moto... from source at every start of every process.
$(STAMP): requirements/dev.txt $(LOCK) layers/courier/requirements.txt | $(UV)
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || { echo "make" \
		"test and make demo need Python 3.11+: $(PYTHON) is missing or older" \
		"(PYTHON=python3.12 picks another)" >&2; exit 1; }
	rm -rf $(VENV)
	$(UV) venv --quiet --no-python-downloads --python $(PYTHON) $(VENV)
	$(UV) pip install --quiet --compile-bytecode --python $(BIN)/python \
		-r requirements/dev.txt -c $(LOCK)
	$(call check_lock,$(VENV))
	@if grep -v '^#' $(LOCK) | grep -vxF -f $(VENV)/freeze.txt; then \
		echo "$(LOCK): the packages above are not in the dev set (make lock drops them)" >&2; exit 1; fi
	touch $@

# After changing requirements/dev.txt or a pin in it: the dev set's whole closure, pinned, into the
# lock; what the lock pins already stays as it is (delete a line to let uv pick that package anew).
lock: | $(UV)
	$(UV) pip compile --quiet --no-header --no-annotate --python-version 3.11 \
		requirements/dev.txt -c $(LOCK) -o $(LOCK)

# $(call find_python,python3.13): the path of a python3.13 that runs: the one on PATH, else the
# newest 3.13.x that pyenv has installed (whatever PYENV_VERSION says), else a one-line error
# saying what to install. No patch version is written down anywhere.
find_python = name=$(1); want=$${name\#python}; found=; \
	if "$$name" -c '' 2>/dev/null; then found=$$(command -v "$$name"); \
	elif command -v pyenv >/dev/null 2>&1; then \
		for v in $$(pyenv versions --bare 2>/dev/null); do \
			case $$v in *[!0-9.]*) continue;; "$$want"|"$$want".*) ;; *) continue;; esac; \
			p=$$(PYENV_VERSION=$$v pyenv which "$$name" 2>/dev/null) && "$$p" -c '' 2>/dev/null \
				&& found=$$p; \
		done; \
	fi; \
	[ -n "$$found" ] && echo "$$found" || { echo "$$name not found on PATH or in pyenv: install \
	it (pyenv install $$want, or your distribution's $$name package)" >&2; exit 1; }

# Prints the python3.13 that `make build` uses, or fails saying what to install (.ci/run asks).
which-python3.13:
	@$(call find_python,python3.13)

test: lint typecheck validate unit

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

validate: $(STAMP)
	$(BIN)/sam validate --template template.yaml
	$(BIN)/cfn-lint template.yaml

# The suite on every core (pytest-xdist): about 65 s instead of 120 s on 2 cores. worksteal: the
# slow tests (e2e, faults) come first, and `--dist load` hands most of them to one worker, which
# then runs long after the other is done. PYTEST_WORKERS=0 runs the suite in one process.
PYTEST_WORKERS ?= auto
unit: $(STAMP)
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist worksteal

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

# courier/aws_data, botocore's data trimmed to the calls courier makes (courier.aws_session),
# written anew from the installed botocore: after a botocore pin changes, or a call is added.
.PHONY: aws-data
aws-data: $(STAMP)
	cd layers/courier && ../../$(BIN)/python -m courier.aws_session

# `sam build` (and the layer's Makefile) run `python3.13` from PATH: find_python's directory goes
# first on it. The layer must ship python3.13 bytecode (layers/courier/Makefile): Lambda cannot
# write it.
build: $(STAMP)
	@python=$$($(call find_python,python3.13)) || exit 1; \
		echo "sam build with $$python"; PATH="$$(dirname "$$python"):$$PATH" $(BIN)/sam build
	@test -f .aws-sam/build/CourierLayer/python/courier/__pycache__/sender.cpython-313.pyc \
		|| { echo "sam build: the courier layer has no python3.13 bytecode" >&2; exit 1; }

# The whole bundle on this machine, without Docker or AWS (docs/design.md §7): messages through the
# queue, the event source mapping and the real sender to local SMTP servers in the six TLS
# modes; prints a summary and leaves the mail in out/demo/ (*.eml, index.html).
demo: $(STAMP)
	$(BIN)/python -m local demo

# The same local stack, kept running until Ctrl-C (endpoints and SMTP URIs are printed).
up: $(STAMP)
	$(BIN)/python -m local up

clean:
	rm -rf $(VENV) $(BENCH_VENV) build/uv .aws-sam .pytest_cache .mypy_cache .ruff_cache out
	rmdir build 2>/dev/null || true

# `make bench`: courier against the usual way, as ratios (bench/results.txt). Its own venv, without
# aws-sam-cli, whose awscrt makes `import boto3` slower than in Lambda; on python3.13 (Lambda's
# runtime) by default, found as `make build` finds it: BENCH_PYTHON=python3 works too.
# BENCH_ARGS="--delay-ms 20" and so on. Its packages are compiled at install, as Lambda's are:
# the cold starts it times must not include compiling them.
BENCH_PYTHON ?= python3.13
BENCH_VENV := .venv-bench
BENCH_STAMP := $(BENCH_VENV)/.installed

bench: $(BENCH_STAMP)
	PYTHONPATH=layers/courier $(BENCH_VENV)/bin/python -m bench $(BENCH_ARGS)

$(BENCH_STAMP): bench/requirements.txt $(LOCK) layers/courier/requirements.txt | $(UV)
	@python=$$($(call find_python,$(BENCH_PYTHON))) || exit 1; rm -rf $(BENCH_VENV); \
		echo "$(UV) venv --python $$python $(BENCH_VENV)"; \
		$(UV) venv --quiet --no-python-downloads --python "$$python" $(BENCH_VENV)
	$(UV) pip install --quiet --compile-bytecode --python $(BENCH_VENV)/bin/python \
		-r bench/requirements.txt -c $(LOCK)
	$(call check_lock,$(BENCH_VENV))
	touch $@
