"""The impure half of `almgen setup`: read the world, run each action's check, create what is missing.

Executables come from ALMGEN_AZ / ALMGEN_GH / ALMGEN_GIT (default `az` / `gh` / `git`). Every
command is an argv list; nothing goes through a shell.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from generator.commands.setup import quota
from generator.commands.setup.actions import actions as plan_actions
from generator.commands.setup.model import (
    Action,
    Arg,
    Body,
    Command,
    Facts,
    FileArg,
    Json,
    Ref,
    Reviewer,
    Status,
    shown,
)
from generator.commands.setup.roles import matrix, matrix_text, monitored
from generator.errors import AlmgenError, ExitCode, UsageError
from generator.frozen import frozen
from generator.plan.model import Plan
from generator.spec.model import Environment, Spec
from generator.spec.naming import monitoring_environment

# argv (tool first), stdin -> exit code, stdout, stderr
Runner = Callable[[Sequence[str], "str | None"], tuple[int, str, str]]
Echo = Callable[[str], None]

# Repositories created (or renamed) on or after this date get the subject with owner and repo IDs.
ID_SUBJECTS_SINCE = "2026-07-15"


class SetupInputError(AlmgenError):
    """The world does not allow the spec: no quota, a model not offered, a reviewer unknown."""

    exit_code = ExitCode.INVALID


class CommandFailed(AlmgenError):
    exit_code = ExitCode.DRIFT


def subprocess_runner(argv: Sequence[str], stdin: str | None) -> tuple[int, str, str]:
    variable = f"ALMGEN_{argv[0].upper()}"  # ALMGEN_AZ, ALMGEN_GH, ALMGEN_GIT
    tool = os.environ.get(variable, argv[0])
    try:
        done = subprocess.run([tool, *argv[1:]], input=stdin, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise SetupInputError(f"{tool!r} not found: install it, or set {variable} to its path") from None
    return done.returncode, done.stdout, done.stderr


@frozen
class Options:
    dry_run: bool = False
    repo: str | None = None
    organization: str | None = None
    project: str | None = None


def _json(runner: Runner, argv: Sequence[str]) -> Any:
    code, out, _ = runner(argv, None)
    if code != 0:
        return None
    try:
        return json.loads(out)
    except ValueError:
        return None


def _subject(keys: list[str] | None, repo: dict[str, Any], env: str, workflow: str) -> str:
    """The `sub` claim of a job bound to environment `env`, from the repository's template."""
    full = str(repo["full_name"])
    owner = repo["owner"]
    if keys is None:  # GitHub's default template for this repository
        if str(repo.get("created_at", "")) >= ID_SUBJECTS_SINCE:
            name = full.split("/", 1)[1]
            return f"repo:{owner['login']}@{owner['id']}/{name}@{repo['id']}:environment:{env}"
        return f"repo:{full}:environment:{env}"
    values = {
        "repo": f"repo:{full}",
        "context": f"environment:{env}",
        "environment": f"environment:{env}",
        "repository": f"repository:{full}",
        "repository_owner": f"repository_owner:{owner['login']}",
        "repository_owner_id": f"repository_owner_id:{owner['id']}",
        "repository_id": f"repository_id:{repo['id']}",
        "job_workflow_ref": f"job_workflow_ref:{full}/{workflow}@refs/heads/main",
        "ref": "ref:refs/heads/main",
        "ref_type": "ref_type:branch",
    }
    unknown = [k for k in keys if k not in values]
    if unknown:
        raise SetupInputError(
            f"the repository's OIDC subject template includes {', '.join(unknown)}, whose value setup "
            "cannot know in advance; create the federated credential by hand (see docs/alm/SETUP.md)"
        )
    return ":".join(values[k] for k in keys)


def read_facts(spec: Spec, envs: tuple[Environment, ...], options: Options, runner: Runner) -> Facts:
    """Everything setup needs to know before deciding: read-only commands only."""
    notes: list[str] = []
    facts = Facts()
    account = _json(runner, ["az", "account", "show", "--output", "json"])
    if isinstance(account, dict):
        facts = replace(facts, subscription_id=str(account.get("id")), tenant_id=str(account.get("tenantId")))
    else:
        notes.append("not logged in to Azure (az account show failed): run `az login`")
    if spec.foundation_models:
        models, usages = [], []
        for region in sorted({r for env in envs for r in env.regions}):
            where = ("--location", region, "--output", "json")
            found = _json(runner, ["az", "cognitiveservices", "model", "list", *where])
            used = _json(runner, ["az", "cognitiveservices", "usage", "list", *where])
            if isinstance(found, list) and isinstance(used, list):
                models.append((region, tuple(found)))
                usages.append((region, tuple(used)))
            else:
                notes.append(f"could not read the model catalog and quota of {region}")
        facts = replace(facts, models=tuple(models), usages=tuple(usages), deployed=_deployed(envs, runner))
    if "github-actions" in spec.pipelines:
        facts = _github_facts(spec, envs, options, runner, facts, notes)
    if "azure-devops" in spec.pipelines:
        organization, project = options.organization, options.project
        if organization is None or project is None:
            _, out, _ = runner(["az", "devops", "configure", "--list"], None)
            pairs = (line.partition("=") for line in out.splitlines())
            defaults = {k.strip(): v.strip() for k, _, v in pairs if v.strip()}
            organization = organization or defaults.get("organization")
            project = project or defaults.get("project")
        if not organization or not project:
            notes.append("no Azure DevOps organization/project: pass --organization and --project")
        facts = replace(facts, organization=organization or None, project=project or None)
        facts = _clone_facts(spec, runner, facts, notes)
    return replace(facts, notes=tuple(notes))


def _clone_facts(spec: Spec, runner: Runner, facts: Facts, notes: list[str]) -> Facts:
    """The repository Azure Pipelines builds (the clone's `origin`), and the spec's folder in it."""
    from generator.commands.setup.devops import repository_from_remote

    clone = ("git", "-C", str(spec.root))
    code, out, _ = runner([*clone, "remote", "get-url", "origin"], None)
    repository = repository_from_remote(out.strip()) if code == 0 else None
    if repository is None:
        notes.append(
            "the pipelines are created from the repository the spec's clone pushes to, and it has no "
            "remote `origin` on Azure Repos or GitHub: run setup in a clone of that repository"
        )
    code, out, _ = runner([*clone, "rev-parse", "--show-prefix"], None)
    return replace(facts, repository=repository, spec_folder=out.strip() if code == 0 else "")


def _deployed(
    envs: tuple[Environment, ...], runner: Runner
) -> tuple[tuple[str, tuple[dict[str, Any], ...]], ...]:
    """Per region, the model deployments of the AI Services accounts in the environments' groups."""
    found: dict[str, list[dict[str, Any]]] = {}
    for stack in (stack for env in envs for stack in env.stacks):
        code, out, _ = runner(
            ["az", "cognitiveservices", "account", "list", "--resource-group", stack.resource_group,
             "--query", "[].name", "--output", "tsv"],
            None,
        )  # fmt: skip
        for account in out.split() if code == 0 else []:
            listed = _json(
                runner,
                ["az", "cognitiveservices", "account", "deployment", "list",
                 "--resource-group", stack.resource_group, "--name", account, "--output", "json"],
            )  # fmt: skip
            if isinstance(listed, list):
                found.setdefault(stack.region, []).extend(d for d in listed if isinstance(d, dict))
    return tuple((region, tuple(items)) for region, items in sorted(found.items()))


def _github_facts(  # noqa: PLR0913, PLR0917 - the read so far and where notes go
    spec: Spec,
    envs: tuple[Environment, ...],
    options: Options,
    runner: Runner,
    facts: Facts,
    notes: list[str],
) -> Facts:
    repo_name = options.repo
    if repo_name is None:
        view = ["gh", "repo", "view", "--json", "nameWithOwner", "--jq", ".nameWithOwner"]
        code, out, _ = runner(view, None)
        repo_name = out.strip() if code == 0 and out.strip() else None
    if repo_name is None:
        notes.append("no GitHub repository: run in a clone, or pass --repo OWNER/REPO")
        return facts
    repo = _json(runner, ["gh", "api", f"repos/{repo_name}"])
    custom = _json(runner, ["gh", "api", f"repos/{repo_name}/actions/oidc/customization/sub"])
    if not isinstance(repo, dict) or not isinstance(custom, dict):
        notes.append(f"could not read the repository {repo_name} or its OIDC subject template")
        return replace(facts, repo=repo_name)
    keys = None if custom.get("use_default", True) else list(custom.get("include_claim_keys") or [])
    workflow = f".github/workflows/{spec.service.name}-deploy.yml"
    subjects = tuple((env.name, _subject(keys, repo, env.name, workflow)) for env in envs)
    watched = monitored(spec)
    if watched is not None and any(env.name == watched.name for env in envs):
        # the production evaluation's job runs in the lifecycle workflow, in its own environment
        label = monitoring_environment(watched.name)
        lifecycle = f".github/workflows/{spec.service.name}-lifecycle.yml"
        subjects += ((label, _subject(keys, repo, label, lifecycle)),)
    owner = repo_name.split("/", 1)[0]
    reviewers: list[tuple[str, Reviewer]] = []
    approvers = {r for env in envs if env.approval.required for r in env.approval.reviewers}
    for env in envs:  # a manual A/B decision's reviewers approve in <env>-ab-decision
        if env.strategy.ab is not None and env.strategy.ab.decide == "manual":
            approvers.update(env.strategy.ab.reviewers)
    for name in sorted(approvers):
        found = _reviewer(runner, owner, name)
        if found is None:
            notes.append(f"reviewer {name!r} is neither a team of {owner} nor a GitHub user")
        else:
            reviewers.append((name, found))
    return replace(facts, repo=repo_name, oidc_subjects=subjects, reviewers=tuple(reviewers))


def _reviewer(runner: Runner, owner: str, name: str) -> Reviewer | None:
    """`org/team` is a team; a bare name is a team of the repository's owner, else a user."""
    org, _, slug = name.rpartition("/")
    tries: list[tuple[str, str]] = [("Team", f"orgs/{org or owner}/teams/{slug}")]
    if not org:
        tries.append(("User", f"users/{slug}"))
    for kind, path in tries:
        code, out, _ = runner(["gh", "api", path, "--jq", ".id"], None)
        if code == 0 and out.strip().isdigit():
            return Reviewer("Team" if kind == "Team" else "User", int(out.strip()))
    return None


@frozen
class Outcome:
    action: Action
    status: Status

    def as_dict(self) -> dict[str, Any]:
        return {
            "group": self.action.group,
            "what": self.action.what,
            "status": self.status,
            "check": self.action.check.command.display(),
            "create": self.action.create.display(),
        }


class _Resolver:
    """Reads Refs from the world, caching what was found (a value found stays valid)."""

    def __init__(self, runner: Runner) -> None:
        self.runner = runner
        self.known: dict[tuple[str, ...], str] = {}

    def value(self, ref: Ref) -> str | None:
        if ref.argv not in self.known:
            code, out, _ = self.runner(ref.argv, None)
            if code != 0 or not out.strip() or out.strip() in ("null", "None"):
                return None
            self.known[ref.argv] = out.strip()
        return ref.prefix + self.known[ref.argv] + ref.suffix

    def arg(self, arg: Arg) -> str | None:
        return self.value(arg) if isinstance(arg, Ref) else arg

    def data(self, data: Json) -> Json:
        if isinstance(data, Ref):
            found = self.value(data)
            if found is None:
                raise _Unresolved(data)
            return found
        if isinstance(data, list):
            return [self.data(item) for item in data]
        if isinstance(data, dict):
            return {k: self.data(v) for k, v in data.items()}
        return data

    def argv(self, command: Command, folder: Path) -> tuple[list[str], str | None]:
        out: list[str] = []
        for arg in command.argv:
            if isinstance(arg, FileArg):
                path = folder / arg.body.name
                path.write_text(json.dumps(self.data(arg.body.data), indent=2), "utf-8")
                out.append(str(path))
            else:
                value = self.arg(arg)
                if value is None:
                    assert isinstance(arg, Ref)
                    raise _Unresolved(arg)
                out.append(value)
        stdin = None if command.stdin is None else json.dumps(self.data(command.stdin.data))
        return out, stdin


class _Unresolved(Exception):
    def __init__(self, ref: Ref) -> None:
        self.ref = ref
        super().__init__(ref.what)


def _display(argv: Sequence[str], stdin: Body | None) -> str:
    import shlex

    return " ".join(shlex.quote(a) for a in argv) + (f" < {stdin.name}" if stdin else "")


def execute(actions: list[Action], runner: Runner, dry_run: bool, echo: Echo) -> list[Outcome]:
    """Check each action; create what is missing (unless dry_run), echoing every command first."""
    resolver = _Resolver(runner)
    outcomes = []
    with tempfile.TemporaryDirectory(prefix="almgen-setup-") as tmp:
        folder = Path(tmp)
        for action in actions:
            status: Status
            try:
                argv, stdin = resolver.argv(action.check.command, folder)
                expect = action.check.expect
                wanted = resolver.arg(expect) if expect is not None else None
                if expect is not None and wanted is None:
                    raise _Unresolved(expect if isinstance(expect, Ref) else Ref(str(expect), ()))
                echo("$ " + _display(argv, None))
                code, out, _ = runner(argv, stdin)
                exists = action.check.holds(code, out, wanted)
            except _Unresolved:
                exists = False  # it depends on something not created yet
            if exists:
                status = "exists"
            elif dry_run:
                status = "would-create"
            else:
                try:
                    argv, stdin = resolver.argv(action.create, folder)
                except _Unresolved as missing:
                    raise CommandFailed(f"{action.what}: could not read {missing.ref.what}") from None
                echo("$ " + _display(argv, action.create.stdin))
                code, _, err = runner(argv, stdin)
                if code != 0:
                    raise CommandFailed(f"{action.what}: {argv[0]} exited {code}: {err.strip()[-2000:]}")
                status = "created"
            outcomes.append(Outcome(action, status))
    return outcomes


def select(spec: Spec, env: str | None) -> tuple[Environment, ...]:
    if env is None:
        return spec.environments
    names = [e.name for e in spec.environments]
    if env not in names:
        raise UsageError(f"no environment {env!r} in the spec; it has {', '.join(names)}")
    return (spec.environment(env),)


def setup(  # noqa: PLR0913, PLR0917 - the world (runner, echo) is passed in, for tests
    spec: Spec, plan: Plan, env: str | None, options: Options, runner: Runner, echo: Echo
) -> tuple[list[Outcome], Facts]:
    """Read the world, refuse early on quota, then check and create every action."""
    envs = select(spec, env)
    facts = read_facts(spec, envs, options, runner)
    found = quota.problems(spec, facts, envs)
    if found:
        raise SetupInputError("\n".join(found))
    if not options.dry_run and facts.notes:
        raise SetupInputError("; ".join(facts.notes))
    todo = plan_actions(spec, plan, facts, envs)
    return execute(todo, runner, options.dry_run, echo), facts


def report_text(
    spec: Spec, envs: tuple[Environment, ...], outcomes: list[Outcome], facts: Facts, dry_run: bool
) -> str:
    lines: list[str] = []
    for note in facts.notes:
        lines.append(f"note: {note}")
    if dry_run:
        table = matrix_text(matrix(spec, envs))
        lines += ["Role matrix (each environment's deployment identity):", "", table]
    group = None
    for outcome in outcomes:
        if outcome.action.group != group:
            group = outcome.action.group
            lines.append(f"== {group}")
        lines.append(f"{outcome.status:<12}  {outcome.action.what}")
        if outcome.status == "would-create":
            lines.append(f"              {outcome.action.create.display()}")
            for body in outcome.action.create.bodies():
                lines.append(f"              {body.name}: {shown(body.data)}")
    counts = {s: sum(1 for o in outcomes if o.status == s) for s in ("exists", "created", "would-create")}
    lines.append(", ".join(f"{n} {s}" for s, n in counts.items()))
    return "\n".join(lines) + "\n"
