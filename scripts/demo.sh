#!/usr/bin/env bash
# The main job on a fresh machine, offline: install into .venv, train on the shipped demo
# corpus (data/demo), then tag a sentence with the new model.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e .
export HF_DATASETS_OFFLINE=1 HF_HUB_OFFLINE=1
.venv/bin/tagger train --dataset data/demo --output models/demo --force
.venv/bin/tagger tag models/demo \
    "Anna Schmidt, the chief executive of Acme Corp, flew from Berlin to Toronto on Monday."
