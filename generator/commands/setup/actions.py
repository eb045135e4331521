"""The pure half of `almgen setup`: (Spec, Plan, Facts) -> the Actions that ensure its one-time setup.

Nothing here runs a command. Values from the world that exist before setup (the subscription,
the repository's OIDC subject template, reviewer IDs) come in `Facts`; values that an earlier
action creates (an identity's IDs, a service connection's federation subject) are `Ref`s.
"""

from __future__ import annotations

import json

from generator.commands.setup import roles
from generator.commands.setup.model import (
    Action,
    Arg,
    Body,
    Check,
    Command,
    Facts,
    FileArg,
    Json,
    Ref,
    RoleGrant,
)
from generator.plan.model import Plan
from generator.spec import naming
from generator.spec.model import Environment, Spec
from generator.spec.naming import (
    github_ab_decision_environment,
    github_approval_environment,
    monitoring_environment,
)
from generator.targets.bicep.files import ROLES

GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
AUDIENCE = "api://AzureADTokenExchange"
BRANCH = "refs/heads/main"  # the branch the generated pipelines deploy from

# Always: the AI Services account, Key Vault, App Configuration, Log Analytics and Application
# Insights (with alerts and the workbook), and ARM deployments themselves.
PROVIDERS = (
    "Microsoft.CognitiveServices",
    "Microsoft.KeyVault",
    "Microsoft.AppConfiguration",
    "Microsoft.OperationalInsights",
    "Microsoft.Insights",
    "Microsoft.ManagedIdentity",
    "Microsoft.AlertsManagement",
)


def identity_group(spec: Spec) -> str:
    return f"rg-{spec.service.name}-identities"


def identity_name(spec: Spec, env: Environment) -> str:
    return f"id-{spec.service.name}-deploy-{env.name}"


def providers(spec: Spec) -> tuple[str, ...]:
    out = list(PROVIDERS)
    if spec.custom_models:
        out += ["Microsoft.MachineLearningServices", "Microsoft.Storage", "Microsoft.ContainerRegistry"]
    if spec.monitoring.budget is not None:
        out += ["Microsoft.Consumption", "Microsoft.CostManagement"]
    return tuple(out)


IDS = ("--query", "[].id", "--output", "tsv")


def identity_ref(name: str, group: str, field: str) -> Ref:
    where = ("--resource-group", group, "--name", name)
    return Ref(f"{field} of {name}", ("az", "identity", "show", *where, "--query", field, "--output", "tsv"))


def _az(*args: Arg | FileArg) -> Command:
    return Command(("az", *args))


def _gh(*args: Arg, stdin: Body | None = None) -> Command:
    return Command(("gh", *args), stdin)


class _Context:
    """The values every action of one run shares, with placeholders for what is not known."""

    def __init__(self, spec: Spec, facts: Facts) -> None:
        self.spec = spec
        self.facts = facts
        self.subscription: Arg = facts.subscription_id or Ref(
            "subscription id", ("az", "account", "show", "--query", "id", "--output", "tsv")
        )
        self.tenant: Arg = facts.tenant_id or Ref(
            "tenant id", ("az", "account", "show", "--query", "tenantId", "--output", "tsv")
        )
        self.repo = facts.repo or "<OWNER/REPO>"
        self.organization = facts.organization or "<https://dev.azure.com/ORGANIZATION>"
        self.project = facts.project or "<PROJECT>"

    def scope(self, group: str | None = None) -> Arg:
        tail = f"/resourceGroups/{group}" if group else ""
        if isinstance(self.subscription, Ref):
            return self.subscription.around("/subscriptions/", tail)
        return f"/subscriptions/{self.subscription}{tail}"

    def principal(self, env: Environment) -> Ref:
        return self._identity(env, "principalId")

    def client(self, env: Environment) -> Ref:
        return self._identity(env, "clientId")

    def _identity(self, env: Environment, field: str) -> Ref:
        return identity_ref(identity_name(self.spec, env), identity_group(self.spec), field)

    def monitor(self, env: Environment, field: str) -> Ref:
        """A field of ENV's monitoring identity (the scheduled production evaluation's)."""
        return identity_ref(roles.monitoring_identity_name(self.spec, env), identity_group(self.spec), field)

    def devops(self) -> tuple[str, ...]:
        return ("--organization", self.organization, "--project", self.project)

    def endpoint(self, env: Environment, field: str, connection: str | None = None) -> Ref:
        # Service connection names match ^[A-Za-z0-9][A-Za-z0-9 ._-]*$: safe in a JMESPath literal.
        connection = connection or env.service_connection
        return Ref(
            f"{field} of service connection {connection}",
            (
                "az",
                "devops",
                "service-endpoint",
                "list",
                *self.devops(),
                "--query",
                f"[?name=='{connection}'].{field} | [0]",
                "--output",
                "tsv",
            ),
        )

    def environment_id(self, env: Environment) -> Ref:
        # Environment names match ^[a-z][a-z0-9-]*$: safe in a JMESPath literal.
        return Ref(
            f"id of Azure DevOps environment {env.name}",
            (
                "az",
                "devops",
                "invoke",
                "--organization",
                self.organization,
                "--area",
                "distributedtask",
                "--resource",
                "environments",
                "--route-parameters",
                f"project={self.project}",
                "--http-method",
                "GET",
                "--api-version",
                "7.1",
                "--query",
                f"value[?name=='{env.name}'].id | [0]",
                "--output",
                "tsv",
            ),
        )


def subscription_actions(spec: Spec, facts: Facts, envs: tuple[Environment, ...]) -> list[Action]:
    ctx = _Context(spec, facts)
    out = [
        Action(
            "subscription",
            f"resource provider {ns} registered",
            Check(
                _az("provider", "show", "--namespace", ns, "--query", "registrationState", "--output", "tsv"),
                "Registered",
            ),
            _az("provider", "register", "--namespace", ns, "--wait"),
            manual="Subscriptions > Resource providers > Register",
        )
        for ns in providers(spec)
    ]
    group = identity_group(spec)
    out.append(
        Action(
            "subscription",
            f"resource group {group} (the deployment identities)",
            Check(_az("group", "exists", "--name", group), "true"),
            _az(
                "group", "create", "--name", group, "--location", spec.location, "--tags", "managed-by=almgen"
            ),
        )
    )
    custom = [(roles.deployer_role_name(spec), roles.deployer_actions(spec), "subscription")]
    if any(env.production for env in envs):
        custom.append((roles.lock_role_name(spec), roles.LOCK_ACTIONS, "production resource groups"))
    if spec.custom_models and any(not env.is_first for env in envs):
        reader = roles.registry_reader_role_name(spec)
        custom.append((reader, roles.REGISTRY_READ_ACTIONS, "the model registry's resource group"))
    watched = roles.monitored(spec)
    if watched is not None and any(env.name == watched.name for env in envs):
        custom.append((roles.monitor_role_name(spec), roles.MONITOR_ACTIONS, "subscription"))
        if spec.custom_models:
            scorer = roles.scorer_role_name(spec)
            custom.append((scorer, roles.SCORER_ACTIONS, "production resource groups"))
    for name, actions, where in custom:
        definition: Json = {
            "Name": name,
            "IsCustom": True,
            "Description": f"almgen: what the pipelines of {spec.service.name} need at {where} "
            "scope, no more.",
            "Actions": list(actions),
            "NotActions": [],
            "AssignableScopes": [ctx.scope()],
        }
        out.append(
            Action(
                "subscription",
                f"custom role {name!r}: {', '.join(actions)}",
                Check(
                    _az(
                        "role",
                        "definition",
                        "list",
                        "--custom-role-only",
                        "true",
                        "--name",
                        name,
                        "--scope",
                        ctx.scope(),
                        "--query",
                        "[].roleName",
                        "--output",
                        "tsv",
                    ),
                    name,
                ),
                _az(
                    "role",
                    "definition",
                    "create",
                    "--role-definition",
                    FileArg(Body(_file(name), definition)),
                ),
                manual="Subscription > Access control (IAM) > Add custom role",
            )
        )
    return out


def _file(role: str) -> str:
    return "role-" + "-".join("".join(c if c.isalnum() else " " for c in role.lower()).split()) + ".json"


def environment_actions(spec: Spec, plan: Plan, facts: Facts, env: Environment) -> list[Action]:
    del plan  # the environments' deployments are the Plan's; setup needs only their names
    ctx = _Context(spec, facts)
    name = env.name
    identity = identity_name(spec, env)
    group = identity_group(spec)
    out: list[Action] = []
    for stack in env.stacks:
        out.append(
            Action(
                name,
                f"resource group {stack.resource_group} in {stack.region}",
                Check(_az("group", "exists", "--name", stack.resource_group), "true"),
                _az(
                    "group",
                    "create",
                    "--name",
                    stack.resource_group,
                    "--location",
                    stack.region,
                    "--tags",
                    f"service={spec.service.name}",
                    f"environment={name}",
                    "managed-by=almgen",
                ),
            )
        )
    out.append(_identity_action(ctx, name, identity, f"identity {identity} in {group}"))
    out += _documents_reader(ctx, env)
    out += _grant_actions(ctx, name, identity, ctx.principal(env), roles.grants(spec, env))
    if "github-actions" in spec.pipelines:
        out += _github(ctx, env)
    if "azure-devops" in spec.pipelines:
        from generator.commands.setup import devops  # it builds on this module's context

        out += devops.environment_actions(ctx, env)
    watched = roles.monitored(spec)
    if watched is not None and watched.name == env.name:
        out += _monitoring(ctx, env)
    if "azure-devops" in spec.pipelines:  # last: the monitoring connection must exist first
        from generator.commands.setup import devops

        out += devops.permission_actions(ctx, env)
    return out


def _identity_action(ctx: _Context, group_label: str, identity: str, what: str) -> Action:
    group = identity_group(ctx.spec)
    where = ("--resource-group", group, "--name", identity)
    return Action(
        group_label,
        what,
        Check(_az("identity", "show", *where, "--query", "id", "--output", "tsv")),
        _az("identity", "create", *where, "--location", ctx.spec.location),
        manual="Managed Identities > Create",
    )


def _grant_actions(
    ctx: _Context, name: str, identity: str, principal: Ref, grants: list[RoleGrant]
) -> list[Action]:
    out: list[Action] = []
    for grant in grants:
        scope = ctx.scope(None if grant.scope == "subscription" else grant.scope)
        query = "[?condition!=null].id" if grant.condition else "[].id"
        extra: tuple[str, ...] = ()
        if grant.condition:
            extra = ("--condition", grant.condition, "--condition-version", "2.0")
        out.append(
            Action(
                name,
                f"{grant.role} for {identity} on {grant.scope}"
                + (" (constrained)" if grant.condition else ""),
                Check(
                    _az(
                        "role",
                        "assignment",
                        "list",
                        "--assignee",
                        principal,
                        "--role",
                        grant.role_id,
                        "--scope",
                        scope,
                        "--query",
                        query,
                        "--output",
                        "tsv",
                    )
                ),
                _az(
                    "role",
                    "assignment",
                    "create",
                    "--assignee-object-id",
                    principal,
                    "--assignee-principal-type",
                    "ServicePrincipal",
                    "--role",
                    grant.role_id,
                    "--scope",
                    scope,
                    *extra,
                    "--description",
                    f"almgen: {grant.why}",
                ),
                manual="Access control (IAM) > Add role assignment",
            )
        )
    return out


def _monitoring(ctx: _Context, env: Environment) -> list[Action]:
    """The scheduled production evaluation's own identity: read-and-call roles only, bound to a
    reviewer-free GitHub environment and an approval-free Azure DevOps service connection, so the
    schedule runs unattended without the deployment identity (whose approval it would bypass)."""
    spec = ctx.spec
    identity = roles.monitoring_identity_name(spec, env)
    label = monitoring_environment(env.name)
    out = [
        _identity_action(
            ctx, env.name, identity, f"identity {identity} in {identity_group(spec)} (production evaluation)"
        )
    ]
    principal = ctx.monitor(env, "principalId")
    out += _grant_actions(ctx, env.name, identity, principal, roles.monitoring_grants(spec, env))
    if "github-actions" in spec.pipelines:
        subject = ctx.facts.subject(label) or f"<OIDC subject of environment {label}>"
        out.append(_credential(ctx, env, f"github-{label}", GITHUB_ISSUER, subject, identity=identity))
        body: dict[str, Json] = {
            "deployment_branch_policy": {"protected_branches": True, "custom_branch_policies": False},
            "reviewers": None,  # unattended: the identity cannot deploy
        }
        path, file = f"repos/{ctx.repo}/environments/{label}", f"environment-{label}.json"
        out.append(
            Action(
                env.name,
                f"GitHub environment {label}: the monitoring identity's credential, no reviewers, "
                "protected branches only",
                Check(_gh("api", path, "--jq", GITHUB_ENVIRONMENT_JQ), github_environment_state(body)),
                _gh("api", "--method", "PUT", path, "--input", "-", stdin=Body(file, body)),
                manual="Settings > Environments > New environment",
            )
        )
        out += _github_variables(ctx, env.name, label, ctx.monitor(env, "clientId"))
    if "azure-devops" in spec.pipelines:
        from generator.commands.setup import devops

        out += devops.monitoring_actions(ctx, env, identity)
    return out


def _documents_reader(ctx: _Context, env: Environment) -> list[Action]:
    """The identity the environment's search services read the retrieval documents as, and its read
    role on their storage account: both must exist before the first index build, which runs in the
    first deploy (a system identity of the service would exist only after it), and the account is
    outside the groups where the pipeline may assign roles. A data asset's account is known only once
    the asset is registered: SETUP.md gives that grant as a command."""
    retrieval = ctx.spec.retrieval
    if retrieval is None:
        return []
    name = naming.search_reader_identity(ctx.spec.service.name, env.name)
    group = env.primary.resource_group
    where = ("--resource-group", group, "--name", name)
    out = [
        Action(
            env.name,
            f"identity {name} in {group} (the search services read the retrieval documents as it)",
            Check(_az("identity", "show", *where, "--query", "id", "--output", "tsv")),
            _az("identity", "create", *where, "--location", env.primary.region),
            manual="Managed Identities > Create",
        )
    ]
    if retrieval.source_path is None:
        return out
    account = naming.documents_account(retrieval.source_path)
    principal = identity_ref(name, group, "principalId")
    scope = Ref(
        f"id of storage account {account}",
        ("az", "storage", "account", "show", "--name", account, "--query", "id", "--output", "tsv"),
    )
    grant = ("--role", ROLES["storageBlobDataReader"], "--scope", scope)
    out.append(
        Action(
            env.name,
            f"Storage Blob Data Reader for {name} on the documents' account {account}",
            Check(_az("role", "assignment", "list", "--assignee", principal, *grant, *IDS)),
            _az(
                *("role", "assignment", "create", "--assignee-object-id", principal),
                *("--assignee-principal-type", "ServicePrincipal", *grant),
                *(
                    "--description",
                    "almgen: the search services build the retrieval indexes from the documents",
                ),
            ),
            manual="Storage account > Access control (IAM) > Add role assignment",
        )
    )
    return out


def _credential(  # noqa: PLR0913 - the identity is the environment's unless named
    ctx: _Context, env: Environment, cred: str, issuer: Arg, subject: Arg, *, identity: str | None = None
) -> Action:
    identity = identity or identity_name(ctx.spec, env)
    where = ("--resource-group", identity_group(ctx.spec), "--identity-name", identity, "--name", cred)
    return Action(
        env.name,
        f"federated credential {cred} on {identity}",
        Check(
            _az("identity", "federated-credential", "show", *where, "--query", "subject", "--output", "tsv"),
            subject,
        ),
        _az(
            "identity",
            "federated-credential",
            "create",
            *where,
            "--issuer",
            issuer,
            "--subject",
            subject,
            "--audiences",
            AUDIENCE,
        ),
        manual="the identity > Federated credentials > Add",
    )


def github_environment_body(
    ctx: _Context, env: Environment, *, approval: tuple[str, ...] | None = None
) -> dict[str, Json]:
    """The GitHub environment ENV (its credential; no reviewers), or with APPROVAL (its reviewers)
    an environment that carries reviewers: ENV's approval (`github_approval_environment`) or a
    manual A/B decision's (`github_ab_decision_environment`)."""
    body: dict[str, Json] = {
        "deployment_branch_policy": {"protected_branches": True, "custom_branch_policies": False},
    }
    if approval is None:
        if env.approval.required:  # the reviewers live on the approval environment: none here
            body["reviewers"] = None
        return body
    reviewers: list[Json] = []
    for reviewer in approval:
        found = ctx.facts.reviewer(reviewer)
        if found is None:
            reviewers.append({"type": "User or Team", "id": f"<id of {reviewer}>"})
        else:
            reviewers.append({"type": found.kind, "id": found.id})
    body["reviewers"] = reviewers
    body["prevent_self_review"] = True
    return body


# The state of a GitHub environment, as one line: its reviewers and whether protected branches only.
GITHUB_ENVIRONMENT_JQ = (
    '"reviewers=" + ([.protection_rules[]? | select(.type == "required_reviewers") | .reviewers[]? '
    '| "\\(.type):\\(.reviewer.id)"] | sort | join(",")) + " protected_branches="'
    " + (.deployment_branch_policy.protected_branches // false | tostring)"
)


def github_environment_state(body: dict[str, Json]) -> str:
    """What GITHUB_ENVIRONMENT_JQ prints for an environment configured with `body`."""
    reviewers = body.get("reviewers") or []
    assert isinstance(reviewers, list)
    pairs = sorted(f"{r['type']}:{r['id']}" for r in reviewers if isinstance(r, dict))
    policy = body.get("deployment_branch_policy")
    protected = isinstance(policy, dict) and policy.get("protected_branches") is True
    return "reviewers=" + ",".join(pairs) + f" protected_branches={json.dumps(protected)}"


def _github_environment(
    ctx: _Context,
    env: Environment,
    name: str,
    what: str,
    *,
    approval: tuple[str, ...] | None = None,
) -> Action:
    body = github_environment_body(ctx, env, approval=approval)
    path = f"repos/{ctx.repo}/environments/{name}"
    return Action(
        env.name,
        what,
        Check(_gh("api", path, "--jq", GITHUB_ENVIRONMENT_JQ), github_environment_state(body)),
        _gh("api", "--method", "PUT", path, "--input", "-", stdin=Body(f"environment-{name}.json", body)),
        manual="Settings > Environments > New environment",
    )


def _github(ctx: _Context, env: Environment) -> list[Action]:
    name = env.name
    subject = ctx.facts.subject(name) or f"<OIDC subject of environment {name}>"
    out = [_credential(ctx, env, f"github-{name}", GITHUB_ISSUER, subject)]
    out.append(
        _github_environment(
            ctx,
            env,
            name,
            f"GitHub environment {name}: the Azure credential, deployments from protected branches only",
        )
    )
    if env.approval.required:
        approval = github_approval_environment(name)
        out.append(
            _github_environment(
                ctx,
                env,
                approval,
                f"GitHub environment {approval}: reviewers {', '.join(env.approval.reviewers)} approve "
                f"each deployment to {name} once",
                approval=env.approval.reviewers,
            )
        )
    ab = env.strategy.ab
    if ab is not None and ab.decide == "manual":
        decision = github_ab_decision_environment(name)
        out.append(
            _github_environment(
                ctx,
                env,
                decision,
                f"GitHub environment {decision}: reviewers {', '.join(ab.reviewers)} approve or reject "
                f"the A/B test's candidate in {name}",
                approval=ab.reviewers,
            )
        )
    return out + _github_variables(ctx, name, name, ctx.client(env))


def _github_variables(ctx: _Context, group_label: str, name: str, client: Arg) -> list[Action]:
    """The azure/login inputs of GitHub environment NAME, as environment variables."""
    variables: list[tuple[str, Arg]] = [
        ("AZURE_CLIENT_ID", client),
        ("AZURE_TENANT_ID", ctx.tenant),
        ("AZURE_SUBSCRIPTION_ID", ctx.subscription),
    ]
    out: list[Action] = []
    for variable, value in variables:
        where = (variable, "--env", name, "--repo", ctx.repo)
        out.append(
            Action(
                group_label,
                f"GitHub variable {variable} of environment {name}",
                Check(_gh("variable", "get", *where), value),
                _gh("variable", "set", *where, "--body", value),
                manual=f"Settings > Environments > {name} > Environment variables",
            )
        )
    return out


def actions(spec: Spec, plan: Plan, facts: Facts, envs: tuple[Environment, ...]) -> list[Action]:
    """Every action setup takes for `envs`, in the order it takes them."""
    out = subscription_actions(spec, facts, envs)
    if "azure-devops" in spec.pipelines:
        from generator.commands.setup import devops

        out += devops.pipeline_actions(_Context(spec, facts))
    for env in envs:
        out += environment_actions(spec, plan, facts, env)
    return out
