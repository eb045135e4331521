"""Model availability and quota, checked before setup creates anything (pure: reads Facts only)."""

from __future__ import annotations

from generator.commands.setup.model import Facts
from generator.frozen import frozen
from generator.spec.model import Environment, Spec
from generator.targets.bicep.files import colours


@frozen
class Need:
    """Capacity one foundation model needs in one region, summed over the environments there."""

    region: str
    format: str
    model: str
    version: str
    sku: str
    capacity: int  # every colour deploys the full capacity (blue-green and canary deploy two)
    environments: tuple[str, ...]

    @property
    def unit(self) -> str:
        return "PTU" if "Provisioned" in self.sku else "TPM (thousands)"


def needs(spec: Spec, envs: tuple[Environment, ...]) -> list[Need]:
    totals: dict[tuple[str, str, str, str, str], tuple[int, tuple[str, ...]]] = {}
    for env in envs:
        for model in spec.foundation_models:
            assert model.capacity is not None
            key = (model.format or "OpenAI", model.model or "", model.version or "", model.sku or "", "")
            for region in env.regions:
                k = (*key[:4], region)
                capacity, names = totals.get(k, (0, ()))
                totals[k] = (capacity + model.capacity[env.name] * len(colours(env)), (*names, env.name))
    return [
        Need(region, fmt, name, version, sku, capacity, envs_)
        for (fmt, name, version, sku, region), (capacity, envs_) in totals.items()
    ]


def _offered(models: tuple[dict[str, object], ...], need: Need) -> bool:
    for entry in models:
        model = entry.get("model")
        if not isinstance(model, dict):
            continue
        found = (model.get("format"), model.get("name"), model.get("version"))
        if found != (need.format, need.model, need.version):
            continue
        skus = model.get("skus") or []
        if isinstance(skus, list) and any(isinstance(s, dict) and s.get("name") == need.sku for s in skus):
            return True
    return False


def _free(usages: tuple[dict[str, object], ...], need: Need) -> int | None:
    wanted = f"{need.format}.{need.sku}.{need.model}".lower()
    for usage in usages:
        name = usage.get("name")
        value = name.get("value") if isinstance(name, dict) else None
        if isinstance(value, str) and value.lower() == wanted:
            limit, current = usage.get("limit"), usage.get("currentValue")
            if isinstance(limit, (int, float)) and isinstance(current, (int, float)):
                return max(0, int(limit - current))
    return None


def _ours(deployed: tuple[dict[str, object], ...], need: Need) -> int:
    """Capacity the spec's own deployments already use (a re-run after a deployment needs no more)."""
    total = 0
    for deployment in deployed:
        properties, sku = deployment.get("properties"), deployment.get("sku")
        model = properties.get("model") if isinstance(properties, dict) else None
        if not isinstance(model, dict) or not isinstance(sku, dict):
            continue
        if (model.get("format"), model.get("name"), sku.get("name")) == (need.format, need.model, need.sku):
            capacity = sku.get("capacity")
            total += capacity if isinstance(capacity, int) else 0
    return total


def problems(spec: Spec, facts: Facts, envs: tuple[Environment, ...]) -> list[str]:
    """Why the spec's foundation models cannot be deployed where it asks, one line each.

    Free capacity is the quota's limit less its use, plus what the spec's own deployments in
    the environments' resource groups use already (they are replaced, not added).
    """
    models, usages, deployed = dict(facts.models), dict(facts.usages), dict(facts.deployed)
    out = []
    for need in needs(spec, envs):
        what = f"{need.model} {need.version} {need.sku}"
        if need.region not in models or need.region not in usages:
            continue  # not read (dry run without the Azure CLI): the real run checks
        if not _offered(models[need.region], need):
            out.append(
                f"{what} ({need.format}) is not offered in {need.region}; pick another version, SKU or region"
            )
            continue
        free = (_free(usages[need.region], need) or 0) + _ours(deployed.get(need.region, ()), need)
        if free < need.capacity:
            out.append(
                f"{what} has {free} of {need.capacity} {need.unit} free in {need.region} "
                f"(for {', '.join(need.environments)}); ask for quota or pick another region"
            )
    return out
