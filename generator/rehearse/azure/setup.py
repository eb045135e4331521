"""What `almgen setup` leaves in the subscription before the first push, seeded into a new world.

The rehearsal starts from an empty subscription, as a user's first push does after `almgen setup`.
Only what the pipelines rely on without creating it is seeded: for a spec with retrieval, each
environment's documents reader (`naming.search_reader_identity`, in the primary resource group) and,
for a blob-folder source, its Storage Blob Data Reader on the documents' account
(`generator/commands/setup/actions.py: _documents_reader` creates the same in Azure). The deployment
identities, their roles and federated credentials are not modelled: the simulated `az` trusts its login.
"""

from __future__ import annotations

import uuid
from typing import Any

from generator.rehearse.azure.search import BLOB_READER, IDENTITY_TYPE, storage_account
from generator.rehearse.azure.store import group_id
from generator.spec import naming
from generator.spec.model import Spec


def seed(state: dict[str, Any], spec: Spec) -> None:
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
