"""`almgen setup` on Azure DevOps: the service connection with workload identity federation,
the environment, and the same approval, branch-control and Exclusive Lock checks on both (a plain
job could otherwise use the prod connection without an approval); the pipelines, created from the
generated YAML, and each one's permission to use the environments and service connections it
names (without it, a pipeline's first run waits for someone to permit each of them).
"""

from __future__ import annotations

from typing import Literal, NamedTuple
from urllib.parse import unquote, urlsplit

from generator.commands.setup.actions import BRANCH, _az, _Context, _credential
from generator.commands.setup.model import Action, Arg, Body, Check, Command, FileArg, Json, Ref
from generator.commands.setup.roles import monitored
from generator.spec.model import Environment, Spec
from generator.spec.naming import monitoring_connection
from generator.targets.azure_devops.files import pipelines

CHECKS_API = "7.1-preview.1"
PERMISSIONS_API = "7.1-preview.1"
PROJECT = "azure-devops"  # the group of the project's own actions (the pipelines)
APPROVAL_TYPE = {"id": "8c6f20a7-a545-4486-9777-f762fafe0d4d", "name": "Approval"}
EXCLUSIVE_LOCK_TYPE = {"id": "2ef31ad6-baa0-403a-8b45-2cbc9b4e5563", "name": "ExclusiveLock"}
TASK_CHECK_TYPE = {"id": "fe1de3ee-a436-41b4-bb20-f6eb4cb879a7", "name": "Task Check"}
BRANCH_CONTROL_TASK = {
    "id": "86b05a0c-73e6-4f7d-b3cf-e38f3b39a75b",
    "name": "evaluatebranchProtection",
    "version": "0.0.1",
}
CHECK_TIMEOUT_MINUTES = 43200  # 30 days for reviewers to answer


class Permit(NamedTuple):
    """PIPELINE may use the `environment` or service connection (`endpoint`) NAME."""

    pipeline: str
    resource: Literal["environment", "endpoint"]
    name: str


def _check_action(  # noqa: PLR0913 - the connection is the environment's unless named
    ctx: _Context,
    env: Environment,
    kind: str,
    resource: str,
    resource_id: Arg,
    *,
    connection: str | None = None,
) -> Action:
    """An approval, Exclusive Lock or branch control check on an environment or service connection
    (CONNECTION, default the environment's)."""
    connection = connection or env.service_connection
    type_ = {"approval": APPROVAL_TYPE, "lock": EXCLUSIVE_LOCK_TYPE, "branch": TASK_CHECK_TYPE}[kind]
    settings: dict[str, Json]
    if kind == "approval":
        settings = {
            "approvers": [{"id": _devops_identity(ctx, reviewer)} for reviewer in env.approval.reviewers],
            "minRequiredApprovers": 1,
            "requesterCannotBeApprover": True,
            "executionOrder": "anyOrder",
            "instructions": f"Approve the deployment of {ctx.spec.service.name} to {env.name}.",
        }
    elif kind == "lock":
        settings = {}
    else:
        settings = {
            "displayName": "Branch control",
            "definitionRef": dict(BRANCH_CONTROL_TASK),
            "inputs": {
                "allowedBranches": BRANCH,
                "ensureProtectionOfBranch": "true",
                "allowUnknownStatusBranch": "false",
            },
            "retryInterval": 5,
        }
    body: Json = {
        "type": dict(type_),
        "settings": settings,
        "resource": {"type": resource, "id": resource_id},
        "timeout": CHECK_TIMEOUT_MINUTES,
    }
    label = {"approval": "approval", "lock": "Exclusive Lock", "branch": f"branch control ({BRANCH})"}[kind]
    owner = f"environment {env.name}" if resource == "environment" else f"service connection {connection}"
    return Action(
        env.name,
        f"{label} check on {owner}",
        Check(
            _invoke(
                ctx,
                ("PipelinesChecks", "configurations", "GET", CHECKS_API),
                "--query",
                "value[].type.name",
                "--output",
                "tsv",
                query=(
                    "--query-parameters",
                    f"resourceType={resource}",
                    _prefixed("resourceId=", resource_id),
                ),
            ),
            str(type_["name"]),
        ),
        _invoke(
            ctx,
            ("PipelinesChecks", "configurations", "POST", CHECKS_API),
            "--in-file",
            FileArg(Body(f"{kind}-{resource}-{env.name}{_suffix(env, connection)}.json", body)),
        ),
        manual=(
            f"Pipelines > Environments > {env.name} > Approvals and checks"
            if resource == "environment"
            else f"Project settings > Service connections > {connection} > Approvals and checks"
        ),
    )


def _suffix(env: Environment, connection: str) -> str:
    return "" if connection == env.service_connection else "-monitoring"


def _invoke(
    ctx: _Context,
    call: tuple[str, str, str, str],
    *tail: Arg | FileArg,
    query: tuple[Arg, ...] = (),
    route: tuple[Arg, ...] = (),
) -> Command:
    """`az devops invoke` of the project: CALL is (area, resource, HTTP method, API version);
    ROUTE the route parameters after the project's."""
    area, resource, method, api_version = call
    where = ("--organization", ctx.organization, "--area", area, "--resource", resource)
    return _az(
        "devops",
        "invoke",
        *where,
        "--route-parameters",
        f"project={ctx.project}",
        *route,
        *query,
        "--http-method",
        method,
        "--api-version",
        api_version,
        *tail,
    )


def _prefixed(prefix: str, value: Arg) -> Arg:
    return value.around(prefix) if isinstance(value, Ref) else prefix + value


def _devops_identity(ctx: _Context, reviewer: str) -> Ref:
    """The Azure DevOps identity ID of a user or group, as approvals name approvers."""
    return Ref(
        f"Azure DevOps identity id of {reviewer}",
        (
            "az",
            "devops",
            "invoke",
            "--organization",
            ctx.organization,
            "--area",
            "IMS",
            "--resource",
            "Identities",
            "--query-parameters",
            "searchFilter=General",
            f"filterValue={reviewer}",
            "--http-method",
            "GET",
            "--api-version",
            "7.1",
            "--query",
            "value[0].id",
            "--output",
            "tsv",
        ),
    )


def _connection_action(ctx: _Context, env: Environment, connection: str, client: Ref, file: str) -> Action:
    config: Json = {
        "name": connection,
        "type": "AzureRM",
        "url": "https://management.azure.com/",
        "authorization": {
            "scheme": "WorkloadIdentityFederation",
            "parameters": {"tenantid": ctx.tenant, "serviceprincipalid": client},
        },
        "data": {
            "subscriptionId": ctx.subscription,
            "subscriptionName": ctx.subscription,
            "environment": "AzureCloud",
            "scopeLevel": "Subscription",
            "creationMode": "Manual",
        },
        "isShared": False,
    }
    return Action(
        env.name,
        f"service connection {connection} (workload identity federation, no secret)",
        Check(
            _az(
                "devops",
                "service-endpoint",
                "list",
                *ctx.devops(),
                "--query",
                "[].name",
                "--output",
                "tsv",
            ),
            connection,
        ),
        _az(
            "devops",
            "service-endpoint",
            "create",
            *ctx.devops(),
            "--service-endpoint-configuration",
            FileArg(Body(file, config)),
        ),
        manual="Project settings > Service connections > Azure Resource Manager > "
        "Workload identity federation (manual)",
    )


def environment_actions(ctx: _Context, env: Environment) -> list[Action]:
    name = env.name
    connection = env.service_connection
    environment: Json = {"name": name, "description": f"almgen: {ctx.spec.service.name}"}
    out = [
        _connection_action(ctx, env, connection, ctx.client(env), f"service-connection-{name}.json"),
        _credential(
            ctx,
            env,
            f"azure-devops-{name}",
            ctx.endpoint(env, "authorization.parameters.workloadIdentityFederationIssuer"),
            ctx.endpoint(env, "authorization.parameters.workloadIdentityFederationSubject"),
        ),
        Action(
            name,
            f"Azure DevOps environment {name}",
            Check(
                _invoke(
                    ctx,
                    ("distributedtask", "environments", "GET", "7.1"),
                    "--query",
                    "value[].name",
                    "--output",
                    "tsv",
                ),
                name,
            ),
            _invoke(
                ctx,
                ("distributedtask", "environments", "POST", "7.1"),
                "--in-file",
                FileArg(Body(f"environment-{name}.json", environment)),
            ),
            manual="Pipelines > Environments > New environment",
        ),
    ]
    targets: list[tuple[str, Arg]] = [
        ("environment", ctx.environment_id(env)),
        ("endpoint", ctx.endpoint(env, "id")),
    ]
    for resource, resource_id in targets:
        if env.approval.required:
            out.append(_check_action(ctx, env, "approval", resource, resource_id))
        out.append(_check_action(ctx, env, "branch", resource, resource_id))
    out.append(_check_action(ctx, env, "lock", "environment", ctx.environment_id(env)))
    return out


def monitoring_actions(ctx: _Context, env: Environment, identity: str) -> list[Action]:
    """The production evaluation's service connection: the monitoring identity, branch control (an
    automatic check) and no approval. Checks on a service connection apply to every job that uses it,
    so the lifecycle pipeline cannot use the deployment connection unattended."""
    connection = monitoring_connection(env.service_connection)
    label = f"{env.name}-monitoring"
    return [
        _connection_action(
            ctx, env, connection, ctx.monitor(env, "clientId"), f"service-connection-{label}.json"
        ),
        _credential(
            ctx,
            env,
            f"azure-devops-{label}",
            ctx.endpoint(env, "authorization.parameters.workloadIdentityFederationIssuer", connection),
            ctx.endpoint(env, "authorization.parameters.workloadIdentityFederationSubject", connection),
            identity=identity,
        ),
        _check_action(
            ctx, env, "branch", "endpoint", ctx.endpoint(env, "id", connection), connection=connection
        ),
    ]


def pipeline_actions(ctx: _Context) -> list[Action]:
    """The delivery and lifecycle pipelines, created from the generated YAML on main and not run:
    the first push runs the delivery pipeline; the schedule runs the lifecycle checks."""
    kind, repository = ctx.facts.repository or ("tfsgit", "<REPOSITORY>")
    github: tuple[Arg, ...] = ()
    if kind == "github":  # Azure Pipelines reads a GitHub repository through a connection of its own
        found = _read(ctx, "devops", "service-endpoint", "list", query="[?type=='github'].id | [0]")
        github = ("--service-connection", Ref("id of the project's GitHub service connection", found))
    out = []
    for name, path in pipelines(ctx.spec.service.name):
        yaml_path = ctx.facts.spec_folder + path
        out.append(
            Action(
                PROJECT,
                f"pipeline {name} from {yaml_path} on main",
                Check(Command(_read(ctx, "pipelines", "list", "--name", name, query="[].name")), name),
                _az(
                    "pipelines",
                    "create",
                    *ctx.devops(),
                    "--name",
                    name,
                    "--repository",
                    repository,
                    "--repository-type",
                    kind,
                    "--branch",
                    BRANCH.removeprefix("refs/heads/"),
                    "--yaml-path",
                    yaml_path,
                    "--skip-first-run",
                    "true",
                    *github,
                ),
                manual="Pipelines > New pipeline > (the repository) > Existing Azure Pipelines YAML file",
            )
        )
    return out


def permits(spec: Spec, env: Environment) -> list[Permit]:
    """What each pipeline may use in ENV: exactly the environments and service connections its YAML
    names. Setup permits these; the rehearsal runs the pipelines under them, so a resource the YAML
    names and setup does not permit fails there as the first run would wait here."""
    delivery, lifecycle = (name for name, _ in pipelines(spec.service.name))
    connection = env.service_connection
    out = [Permit(delivery, "environment", env.name), Permit(delivery, "endpoint", connection)]
    if env.is_first:  # the lifecycle checks read with the first environment's connection
        out.append(Permit(lifecycle, "endpoint", connection))
    watched = monitored(spec)
    if watched is not None and watched.name == env.name:  # the production evaluation runs there too
        out.append(Permit(lifecycle, "endpoint", monitoring_connection(connection)))
    return out


def permission_actions(ctx: _Context, env: Environment) -> list[Action]:
    """ENV's permits, after everything they name exists (its monitoring connection included)."""
    return [_may_use(ctx, env, permit) for permit in permits(ctx.spec, env)]


def _may_use(ctx: _Context, env: Environment, permit: Permit) -> Action:
    """The pipeline may use the environment or service connection, as a project administrator's
    "Permit" on the first run's page would allow it."""
    pipeline, resource, name = permit
    resource_id = ctx.environment_id(env) if resource == "environment" else ctx.endpoint(env, "id", name)
    found = _read(ctx, "pipelines", "show", "--name", pipeline, query="id")
    pipeline_id = Ref(f"id of pipeline {pipeline}", found)
    route = (f"resourceType={resource}", _prefixed("resourceId=", resource_id))
    call = ("pipelinePermissions", "pipelinePermissions")
    owner = f"environment {name}" if resource == "environment" else f"service connection {name}"
    kind = "environment" if resource == "environment" else "connection"
    body: Json = {"pipelines": [{"id": pipeline_id, "authorized": True}]}
    return Action(
        env.name,
        f"pipeline {pipeline} may use {owner}",
        Check(
            _invoke(
                ctx,
                (*call, "GET", PERMISSIONS_API),
                "--query",
                "pipelines[?authorized].id",
                "--output",
                "tsv",
                route=route,
            ),
            pipeline_id,
        ),
        _invoke(
            ctx,
            (*call, "PATCH", PERMISSIONS_API),
            "--in-file",
            FileArg(Body(f"permission-{pipeline}-{kind}-{name}.json", body)),
            route=route,
        ),
        manual=(
            f"Pipelines > Environments > {name} > Security > Pipeline permissions"
            if resource == "environment"
            else f"Project settings > Service connections > {name} > Security > Pipeline permissions"
        ),
    )


def _read(ctx: _Context, *command: str, query: str) -> tuple[str, ...]:
    """`az COMMAND` in the project, printing what QUERY selects, one value a line."""
    return ("az", *command, *ctx.devops(), "--query", query, "--output", "tsv")


def repository_from_remote(url: str) -> tuple[str, str] | None:
    """("tfsgit", NAME) for a clone of Azure Repos, ("github", OWNER/REPO) for one of GitHub, from
    the URL of its remote (HTTPS or SSH); None for anything else."""
    if "://" not in url and ":" in url.partition("/")[0]:  # scp-like SSH: git@host:path
        user_host, _, path = url.partition(":")
        host = user_host.rpartition("@")[2]
    else:
        parts = urlsplit(url)
        host, path = parts.hostname or "", parts.path
    segments = [unquote(s) for s in path.strip("/").removesuffix(".git").split("/") if s]
    if host == "github.com" and len(segments) == 2:
        return "github", "/".join(segments)
    azure = host in ("dev.azure.com", "ssh.dev.azure.com", "vs-ssh.visualstudio.com")
    if azure or host.endswith(".visualstudio.com"):
        if "_git" in segments[:-1]:  # https://dev.azure.com/ORG/PROJECT/_git/REPO
            return "tfsgit", segments[segments.index("_git") + 1]
        if segments[:1] == ["v3"] and len(segments) == 4:  # SSH: v3/ORG/PROJECT/REPO
            return "tfsgit", segments[3]
    return None
