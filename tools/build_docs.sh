#!/usr/bin/env bash
# Build the documentation from a fresh virtual environment, as CI does:
# install cyconv with its `docs` extra, run every gallery example, draw the
# figures, and fail on any Sphinx warning.  Output: docs/_build/html.
set -euo pipefail
cd "$(dirname "$0")/.."

venv="$(mktemp -d)/venv"
python3 -m venv "$venv"
# shellcheck disable=SC1091
source "$venv/bin/activate"
python -m pip install --quiet --upgrade pip
python -m pip install --quiet ".[docs]"

# Generated pages from an earlier build would hide what this one produces.
rm -rf docs/_build docs/generated docs/auto_examples docs/sg_execution_times.rst
# -P keeps the source tree off sys.path, so the installed, compiled cyconv is documented.
MPLBACKEND=agg python -P -m sphinx -W --keep-going -b html docs docs/_build/html
echo "docs built: docs/_build/html/index.html"
