# Two commands for a newcomer: `make demo` and `make test`. Each creates .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CHECKOV_VENV := .venv-checkov

.PHONY: demo test lint typecheck pytest bench ffmpeg torchcodec chromium terraform-check checkov clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/vidcurate demo

test: lint typecheck terraform-check pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP) ffmpeg chromium
	$(BIN)/pytest -n 2 --dist loadgroup

bench: $(STAMP) ffmpeg torchcodec chromium
	$(BIN)/pytest tests/benchmarks -s -p no:xdist -o addopts="" --timeout 900

# The frame benchmark's baseline is Debian's ffmpeg command line, and the feature tests
# compare the technical extractor with its ffprobe; without them (no apt, no root) that
# baseline and that test are skipped with a message and the others still run.
ffmpeg:
	@command -v ffmpeg >/dev/null || { apt-get update -qq && apt-get install -y -qq ffmpeg; } \
		|| echo "could not install ffmpeg (apt-get): the ffmpeg baseline will be skipped"

# The sampler benchmark's other baseline is torchcodec's exact mode (it loads Debian's FFmpeg
# libraries, which the ffmpeg package brings); only `make bench` installs it.
torchcodec: $(STAMP) ffmpeg
	@$(BIN)/python -c "import torchcodec.decoders" 2>/dev/null || $(BIN)/pip install --quiet 'torchcodec==0.17.0' \
		|| echo "could not install torchcodec: its baseline will be skipped"

# The browser tests drive Debian's Chromium through Playwright (no browser download); without
# it (no apt, no root) they are skipped with a message and the others still run.
chromium:
	@test -x /usr/bin/chromium || { apt-get update -qq && apt-get install -y -qq chromium; } \
		|| echo "could not install chromium (apt-get): the browser tests will be skipped"

$(CHECKOV_VENV)/.installed:
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/pip install --quiet 'checkov>=3.2,<4'
	touch $@

checkov: $(CHECKOV_VENV)/.installed
	BC_SKIP_MAPPING=TRUE $(CHECKOV_VENV)/bin/checkov -d terraform --framework terraform --quiet --compact --skip-download

terraform-check: checkov
	@if command -v terraform >/dev/null; then terraform fmt -check -recursive terraform; \
	else echo "terraform not installed: skipping 'terraform fmt -check' (checkov still ran)"; fi

clean:
	rm -rf .vidcurate build .pytest_cache .mypy_cache .ruff_cache
