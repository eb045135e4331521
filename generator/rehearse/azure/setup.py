"""What `almgen setup` leaves in the subscription before the first push, seeded into a new world.

The rehearsal starts from an empty subscription, as a user's first push does after `almgen setup`.
Only what the pipelines rely on without creating it is seeded: for a spec with retrieval, each
environment's documents reader (`naming.search_reader_identity`, in the primary resource group) and,
for a blob-folder source, its Storage Blob Data Reader on the documents' account
(`generator/commands/setup/actions.py: _documents_reader` creates the same in Azure). The deployment
identities, their roles and federated credentials are not modelled: the simulated `az` trusts its login,
but for one check: a deployment of a fine-tuned model another account holds (rehearse/azure/arm.py) needs
the deploying environment's Cognitive Services OpenAI Contributor over that account, seeded here from the
role matrix (setup/roles.py) as `pipeline:<env>`.
"""

from __future__ import annotations

import uuid
from typing import Any

from generator.rehearse.azure.search import BLOB_READER, IDENTITY_TYPE, storage_account
from generator.rehearse.azure.store import group_id
from generator.spec import naming
from generator.spec.model import Spec


def seed(state: dict[str, Any], spec: Spec) -> None:
    _fine_tune_grants(state, spec)
    _monitoring_clients(state, spec)
    retrieval = spec.retrieval
    if retrieval is None:
        return
    for env in spec.environments:
        group, name = env.primary.resource_group, naming.search_reader_identity(spec.service.name, env.name)
        tags = {"service": spec.service.name, "environment": env.name, "managed-by": "almgen"}
        state["groups"].setdefault(group, {"location": env.primary.region, "tags": tags})
        resource = f"{group_id(state, group)}/providers/{IDENTITY_TYPE}/{name}"
        principal = str(uuid.uuid5(uuid.NAMESPACE_URL, resource))
        state.setdefault("identities", {})[resource] = {
            "name": name,
            "group": group,
            "principalId": principal,
        }
        if retrieval.source_path is not None:
            account = naming.documents_account(retrieval.source_path)
            scope = storage_account(None, state, {"--name": account})["id"]
            grant = {"principalId": principal, "roleDefinitionName": BLOB_READER, "scope": scope}
            if grant not in state["roles"]:  # setup checks before it creates: twice is once
                state["roles"].append(grant)


def _monitoring_clients(state: dict[str, Any], spec: Spec) -> None:
    """The production evaluation's monitoring identity reads and calls, and writes nothing in ARM
    (setup/roles.py: monitoring_grants): its client IDs (GitHub's environment variable, Azure DevOps'
    service connection) are refused every write (`__main__.READ_ONLY`)."""
    from generator.plan.production import production_evaluation
    from generator.rehearse.devops.steps import connection_client
    from generator.rehearse.driver import MONITORING_CLIENT_ID

    evaluation = production_evaluation(spec)
    if evaluation is None:
        return
    clients = [MONITORING_CLIENT_ID, connection_client(evaluation.monitoring_connection)]
    state["readOnlyClients"] = sorted(set(state.get("readOnlyClients") or []) | set(clients))


def _fine_tune_grants(state: dict[str, Any], spec: Spec) -> None:
    """The role matrix's Cognitive Services OpenAI Contributor rows (fine-tuning and promoting)."""
    from generator.commands.setup.roles import OPENAI_CONTRIBUTOR, matrix
    from generator.rehearse.azure.arm import OPENAI_CONTRIBUTOR as ROLE_NAME
    from generator.rehearse.azure.arm import pipeline_principal

    if not spec.fine_tuned_models:
        return
    for row in matrix(spec, spec.environments):
        if row.role_id != OPENAI_CONTRIBUTOR:
            continue
        grant = {
            "principalId": pipeline_principal(row.environment),
            "roleDefinitionName": ROLE_NAME,
            "scope": group_id(state, row.scope),
        }
        if grant not in state["roles"]:
            state["roles"].append(grant)
