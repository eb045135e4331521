"""Where the one Azure ML registry of a service lives, and which regions it serves.

A spec with custom models gets one registry (Microsoft.MachineLearningServices/registries),
shared by every environment: the first environment of the promotion path creates it in its
primary resource group (its Bicep) and publishes the versions it trains or registers into it;
every later environment deploys the registry's asset, so that all of them serve the same bytes.
Its regions are those of every environment's stacks: a workspace deploys a registry's model only
in a region the registry replicates to.
"""

from __future__ import annotations

from generator.frozen import frozen
from generator.spec import naming
from generator.spec.model import Spec


@frozen
class ModelRegistry:
    name: str
    home: str  # the environment that creates the registry and publishes into it
    resource_group: str  # the home environment's primary resource group
    location: str  # the home environment's primary region
    regions: tuple[str, ...]  # every environment's regions, the home region first

    def asset(self, model: str, version: str) -> str:
        """The reference an online deployment serves: the registry's asset, the same everywhere."""
        return f"azureml://registries/{self.name}/models/{model}/versions/{version}"


def model_registry(spec: Spec) -> ModelRegistry | None:
    """The service's registry, or None when the spec has no custom model."""
    if not spec.custom_models:
        return None
    home = spec.environments[0]
    regions = [stack.region for env in spec.environments for stack in env.stacks]
    return ModelRegistry(
        name=spec.registry.name or naming.ml_registry(spec.service.name),
        home=home.name,
        resource_group=home.primary.resource_group,
        location=home.primary.region,
        regions=tuple(dict.fromkeys(regions)),
    )
