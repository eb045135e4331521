"""Azure resource names derived from the spec, and the limits Azure puts on them.

Names are decided here once; Bicep templates and pipelines print them. Names that must be
globally unique get a `uniqueString()` suffix in Bicep, of `UNIQUE_LENGTH` characters,
which the limits below account for.
"""

from __future__ import annotations

import re

from generator.frozen import frozen

UNIQUE_LENGTH = 6

# Short region codes keep names readable and within limits (Cloud Adoption Framework style).
REGION_CODES = {
    "australiaeast": "aue",
    "brazilsouth": "brs",
    "canadacentral": "cac",
    "canadaeast": "cae",
    "centralindia": "inc",
    "centralus": "cus",
    "eastasia": "ea",
    "eastus": "eus",
    "eastus2": "eus2",
    "francecentral": "frc",
    "germanywestcentral": "gwc",
    "italynorth": "itn",
    "japaneast": "jpe",
    "japanwest": "jpw",
    "koreacentral": "krc",
    "northcentralus": "ncus",
    "northeurope": "ne",
    "norwayeast": "nwe",
    "polandcentral": "plc",
    "southafricanorth": "san",
    "southcentralus": "scus",
    "southeastasia": "sea",
    "southindia": "ins",
    "spaincentral": "spc",
    "swedencentral": "swc",
    "switzerlandnorth": "szn",
    "uaenorth": "uan",
    "uksouth": "uks",
    "ukwest": "ukw",
    "westcentralus": "wcus",
    "westeurope": "we",
    "westus": "wus",
    "westus2": "wus2",
    "westus3": "wus3",
}


def region_code(region: str) -> str:
    return REGION_CODES.get(region, region)


@frozen
class NameRule:
    what: str  # shown to the user
    min_length: int
    max_length: int
    allowed: str  # a regex of the whole name
    unique_suffix: bool  # Bicep appends '-' + uniqueString


# Only names that are printed as they are; names with a uniqueness suffix are cut to fit.
RULES = {
    "resourceGroup": NameRule("resource group", 1, 90, r"[-\w._()]+", False),
    "aiServices": NameRule("AI Services account", 2, 64, r"[a-zA-Z0-9][a-zA-Z0-9-]*", True),
    "mlWorkspace": NameRule("Azure ML workspace", 3, 33, r"[a-zA-Z0-9][a-zA-Z0-9_-]*", False),
    "onlineEndpoint": NameRule("Azure ML online endpoint", 3, 32, r"[a-zA-Z][a-zA-Z0-9-]*", False),
    "logAnalytics": NameRule("Log Analytics workspace", 4, 63, r"[a-zA-Z0-9][a-zA-Z0-9-]*", False),
    # Microsoft.MachineLearningServices/registries name pattern (bicep-types-az, 2025-12-01)
    "mlRegistry": NameRule("Azure ML registry", 3, 33, r"[a-zA-Z0-9][a-zA-Z0-9_-]*", False),
}


def stack_suffix(env: str, region: str, multi_region: bool) -> str:
    return f"{env}-{region_code(region)}" if multi_region else env


def resource_group(service: str, env: str, region: str, multi_region: bool, explicit: str | None) -> str:
    base = explicit or f"rg-{service}-{env}"
    return f"{base}-{region_code(region)}" if multi_region else base


def ai_services(service: str, suffix: str) -> str:
    return f"ais-{service}-{suffix}"


def ml_workspace(service: str, suffix: str) -> str:
    return f"mlw-{service}-{suffix}"


def online_endpoint(service: str, model: str, suffix: str) -> str:
    return f"{service}-{model}-{suffix}"


def ml_registry(service: str) -> str:
    """The one Azure ML registry of a service, shared by all its environments (3-33 characters)."""
    return f"mlr-{service}"[:33].rstrip("-_")


def search_reader_identity(service: str, env: str) -> str:
    """The user-assigned identity an environment's search services read the retrieval documents as.

    `almgen setup` creates it in the environment's primary resource group and grants it read on the
    documents before the first deploy; search.bicep attaches it (a system identity would exist only
    after that deploy, too late for the first index build)."""
    return f"id-{service}-search-{env}"


def documents_account(path: str) -> str:
    """The storage account of a `retrieval.source.path` (https://<account>.blob.core.windows.net/...)."""
    return path.removeprefix("https://").partition(".")[0]


def log_analytics(service: str, suffix: str) -> str:
    return f"log-{service}-{suffix}"


def check(kind: str, name: str) -> str | None:
    """Why `name` breaks Azure's rules for `kind`, or None."""
    rule = RULES[kind]
    length = len(name) + (UNIQUE_LENGTH + 1 if rule.unique_suffix else 0)
    if length > rule.max_length:
        extra = " with its uniqueness suffix" if rule.unique_suffix else ""
        return (
            f"the {rule.what} name {name!r} would be {length} characters{extra}; "
            f"Azure allows at most {rule.max_length}"
        )
    if length < rule.min_length:
        return f"the {rule.what} name {name!r} is shorter than {rule.min_length} characters"
    if not re.fullmatch(rule.allowed, name):
        return f"the {rule.what} name {name!r} has characters Azure does not allow"
    return None


# The names the pipelines derive from an environment's: `derived_names` (spec/rules.py) refuses a
# spec whose own names would collide with them.


def service_connection(service: str, env: str, explicit: str | None) -> str:
    """ENV's Azure DevOps service connection: `serviceConnection`, else azure-<service>-<env>."""
    return explicit or f"azure-{service}-{env}"


def github_ab_decision_environment(env: str) -> str:
    """The GitHub environment whose reviewers approve a manual A/B test's candidate in ENV: the
    ab-decision job names it (no credential), `almgen setup` gives it the `compare.reviewers`."""
    return f"{env}-ab-decision"


def github_approval_environment(env: str) -> str:
    """The GitHub environment that carries ENV's reviewers.

    GitHub asks its reviewers again for every wave of jobs that names an environment with
    required reviewers: a canary's step jobs, and its rollback job, would each wait for a person.
    So one approval job names `<env>-approval` (reviewers, no credentials) and every job that
    needs Azure names `<env>` (the federated credential, protected branches only, no reviewers)
    and needs the approval job. Azure DevOps evaluates checks once per stage and needs no such
    split.
    """
    return f"{env}-approval"


def monitoring_environment(env: str) -> str:
    """The GitHub environment of ENV's monitoring identity: no reviewers, protected branches only."""
    return f"{env}-monitoring"


def monitoring_connection(connection: str) -> str:
    """The Azure DevOps service connection of the monitoring identity, beside CONNECTION's."""
    return f"{connection}-monitoring"
