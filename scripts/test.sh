#!/usr/bin/env bash
# Installs the test dependencies, then runs the whole test suite (arguments go to pytest).
#
# checkov pins old versions of libraries almgen's tests use (packaging, pycep-parser), so it
# lives in its own virtual environment under .venv-tools/; the tests find it there.
set -euo pipefail
cd "$(dirname "$0")/.."

python -m pip install --quiet -e '.[test]'

tools=.venv-tools
if [ ! -x "$tools/checkov/bin/checkov" ]; then
  python -m venv "$tools/checkov"
  "$tools/checkov/bin/python" -m pip install --quiet 'checkov==3.3.30'
fi

exec python -m pytest "$@"
