"""The scenario matrix (tests/rehearse/matrix.py) on GitHub Actions: every sample's first deploy that has
it, then the enterprise sample's scenarios.

pytest collects a module's tests in the order they are bound below: the az-line check, which
reads the lines of the scenarios before it, stays last.
"""

from __future__ import annotations

import pytest

from tests.rehearse import matrix
from tests.rehearse.conftest import GITHUB

pytestmark = pytest.mark.slow  # whole pipelines, run: CI runs them (see tests/conftest.py)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    matrix.parametrize(metafunc, GITHUB)


test_first_deploy_reaches_production = matrix.test_first_deploy_reaches_production
test_first_deploy_of_a_canary_environment_moves_no_traffic = (
    matrix.test_first_deploy_of_a_canary_environment_moves_no_traffic
)
test_a_release_then_the_same_commit_again = matrix.test_a_release_then_the_same_commit_again
test_a_canary_breach_at_any_step_restores_traffic_exactly = (
    matrix.test_a_canary_breach_at_any_step_restores_traffic_exactly
)
test_a_fault_in_prod_leaves_prod_serving_the_old_release = (
    matrix.test_a_fault_in_prod_leaves_prod_serving_the_old_release
)
test_a_failed_gate_deploys_nothing_past_it_and_its_re_run_finishes = (
    matrix.test_a_failed_gate_deploys_nothing_past_it_and_its_re_run_finishes
)
test_a_bake_longer_than_a_token_logs_in_again = matrix.test_a_bake_longer_than_a_token_logs_in_again
test_a_retired_version_is_removed_everywhere = matrix.test_a_retired_version_is_removed_everywhere
test_production_quality_is_evaluated_on_schedule_and_a_breach_alerts = (
    matrix.test_production_quality_is_evaluated_on_schedule_and_a_breach_alerts
)
test_the_production_evaluation_runs_unattended_and_cannot_deploy = (
    matrix.test_the_production_evaluation_runs_unattended_and_cannot_deploy
)
test_every_az_line_parses_with_the_real_azure_cli = matrix.test_every_az_line_parses_with_the_real_azure_cli
