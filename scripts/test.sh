#!/usr/bin/env bash
# The test suite on a fresh machine: install into .venv with the dev and beam extras, lint,
# run pytest.
# The integration test reads ../shared/data beside the project.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[dev,beam]'
# The page's test drives a real headless Chromium (Debian's package).
if ! command -v chromium >/dev/null; then
    apt-get install -y -q chromium >/dev/null || { apt-get update -q >/dev/null &&
        apt-get install -y -q chromium >/dev/null; }
fi
.venv/bin/ruff check tagger tests scripts
# Two processes, a test file each at a time (its module fixtures built once): most tests
# spend their time in one thread. TEST_PROCESSES=0 runs the suite in this process.
HF_DATASETS_OFFLINE=1 HF_HUB_OFFLINE=1 .venv/bin/python -m pytest \
    -n "${TEST_PROCESSES:-2}" --dist loadfile "$@"
