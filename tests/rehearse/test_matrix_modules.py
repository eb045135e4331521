"""The scenario matrix (tests/rehearse/matrix.py) is collected by one module per target: none of
its scenarios is left out, and each module checks its az lines after all its scenarios ran."""

from __future__ import annotations

import inspect
from types import ModuleType

from tests.rehearse import matrix, test_rehearsals_devops, test_rehearsals_github

DEVOPS_ONLY = {  # custom-model-devops: a sample with only an Azure DevOps pipeline
    "test_the_same_commit_again_trains_nothing",
    "test_versions_past_retention_are_archived_unless_a_deployment_still_needs_them",
}


def _tests(module: ModuleType) -> list[str]:
    return [name for name, value in vars(module).items() if name.startswith("test_") and callable(value)]


def test_every_scenario_runs_on_each_target_it_names() -> None:
    scenarios = set(_tests(matrix))
    assert set(_tests(test_rehearsals_devops)) == scenarios
    assert set(_tests(test_rehearsals_github)) == scenarios - DEVOPS_ONLY
    for name in DEVOPS_ONLY:  # no `target` parameter: they name their target themselves
        assert "target" not in inspect.signature(getattr(matrix, name)).parameters


def test_the_az_line_check_is_collected_last() -> None:
    for module in (test_rehearsals_github, test_rehearsals_devops):
        assert _tests(module)[-1] == "test_every_az_line_parses_with_the_real_azure_cli", module.__name__
        assert _tests(module)[:1] == ["test_first_deploy_reaches_production"], module.__name__
