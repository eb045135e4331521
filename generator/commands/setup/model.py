"""The types of `almgen setup`: commands as argv lists, and the actions that ensure one thing each.

A command never is a shell string: every element is one argument, and values only known once
an earlier action ran (an identity's principal ID, a service connection's federation subject)
are `Ref`s that the executor reads from the world just before the command runs.
"""

from __future__ import annotations

from dataclasses import field
from typing import Literal, Union

from generator.frozen import frozen

Tool = Literal["az", "gh"]
Status = Literal["exists", "created", "would-create"]


@frozen
class Ref:
    """A value read from the world when needed: the output (stripped) of a read-only command."""

    what: str  # shown in place of the value, e.g. "principalId of id-app-deploy-dev"
    argv: tuple[str, ...]
    prefix: str = ""  # the argument is prefix + value + suffix
    suffix: str = ""

    def __str__(self) -> str:
        return f"{self.prefix}<{self.what}>{self.suffix}"

    def around(self, prefix: str = "", suffix: str = "") -> Ref:
        return Ref(self.what, self.argv, prefix + self.prefix, self.suffix + suffix)


Arg = Union[str, Ref]  # noqa: UP007 - a runtime alias, read on Python 3.10
# A JSON body whose leaves may be Refs (a service connection needs the identity's client ID).
Json = Union[str, int, bool, None, Ref, list["Json"], dict[str, "Json"]]  # noqa: UP007


@frozen
class Body:
    """A JSON document given to a command on stdin (`--input -`) or as a file (`--in-file`)."""

    name: str  # the file name shown, e.g. "approval-prod.json"
    data: Json


@frozen
class FileArg:
    """The path of a temporary file holding `body`, written just before the command runs."""

    body: Body

    def __str__(self) -> str:
        return self.body.name


@frozen
class Command:
    argv: tuple[Arg | FileArg, ...]  # argv[0] is the tool: "az" or "gh"
    stdin: Body | None = None

    @property
    def tool(self) -> Tool:
        return "gh" if self.argv[0] == "gh" else "az"

    def display(self) -> str:
        """One line as a user would type it (quoted where needed), with Refs as <placeholders>."""
        import shlex

        parts = [str(a) if isinstance(a, (Ref, FileArg)) else shlex.quote(a) for a in self.argv]
        line = " ".join(parts)
        if self.stdin is not None:
            line += f" < {self.stdin.name}"
        return line

    def bodies(self) -> tuple[Body, ...]:
        """The JSON documents the command reads (files and stdin)."""
        found = [a.body for a in self.argv if isinstance(a, FileArg)]
        return (*found, *([self.stdin] if self.stdin is not None else []))

    def refs(self) -> tuple[Ref, ...]:
        found: list[Ref] = []
        for arg in self.argv:
            if isinstance(arg, Ref):
                found.append(arg)
            elif isinstance(arg, FileArg):
                found.extend(_refs(arg.body.data))
        if self.stdin is not None:
            found.extend(_refs(self.stdin.data))
        return tuple(found)


def shown(data: Json) -> str:
    """A body as compact JSON, with Refs as their <placeholders>."""
    import json

    def plain(value: Json) -> object:
        if isinstance(value, Ref):
            return str(value)
        if isinstance(value, list):
            return [plain(item) for item in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value

    return json.dumps(plain(data), separators=(", ", ": "))


def _refs(data: Json) -> list[Ref]:
    if isinstance(data, Ref):
        return [data]
    if isinstance(data, list):
        return [r for item in data for r in _refs(item)]
    if isinstance(data, dict):
        return [r for item in data.values() for r in _refs(item)]
    return []


@frozen
class Check:
    """A read-only command that tells whether the action's result already exists.

    It exists when the command exits 0 and: `expect` is None and the output is not empty
    (nor `[]`, `null`, `0`); or one output line equals `expect`.
    """

    command: Command
    expect: str | Ref | None = None

    def holds(self, code: int, stdout: str, expect: str | None) -> bool:
        if code != 0:
            return False
        text = stdout.strip()
        if expect is None:
            return text not in ("", "[]", "null", "0", "false")
        return expect in (line.strip() for line in text.splitlines())


@frozen
class Action:
    """One thing setup ensures: checked first, created only when the check says it is missing."""

    group: str  # "subscription", or the environment's name
    what: str  # e.g. "identity id-app-deploy-prod in rg-app-identities"
    check: Check
    create: Command
    manual: str = ""  # the manual alternative (portal), when there is one


@frozen
class RoleGrant:
    """One row of the role matrix: an environment's identity holds `role` at `scope` because `why`."""

    environment: str
    scope: str  # "subscription" or a resource group's name
    role: str  # the role's name
    role_id: str  # built-in GUID, or the custom role's name
    why: str
    condition: str | None = None  # an ABAC condition (version 2.0) constraining the grant
    custom: bool = False


@frozen
class Reviewer:
    kind: Literal["User", "Team"]
    id: int


@frozen
class Facts:
    """What setup reads from the world before it decides anything (None: not known, dry run)."""

    subscription_id: str | None = None
    tenant_id: str | None = None
    repo: str | None = None  # OWNER/REPO
    oidc_subjects: tuple[tuple[str, str], ...] = ()  # environment -> the GitHub token subject
    reviewers: tuple[tuple[str, Reviewer], ...] = ()  # reviewer as written -> its GitHub id
    organization: str | None = None  # https://dev.azure.com/ORG
    project: str | None = None
    # Azure Pipelines builds from the clone's `origin`: ("tfsgit", NAME) on Azure Repos, or
    # ("github", OWNER/REPO); and the spec's folder from the repository's root ("" or "app/")
    repository: tuple[str, str] | None = None
    spec_folder: str = ""
    models: tuple[tuple[str, tuple[dict[str, object], ...]], ...] = ()  # region -> model list
    usages: tuple[tuple[str, tuple[dict[str, object], ...]], ...] = ()  # region -> usage list
    # region -> the spec's own model deployments there (already counted in the usage)
    deployed: tuple[tuple[str, tuple[dict[str, object], ...]], ...] = ()
    notes: tuple[str, ...] = field(default=())

    def subject(self, env: str) -> str | None:
        return dict(self.oidc_subjects).get(env)

    def reviewer(self, name: str) -> Reviewer | None:
        return dict(self.reviewers).get(name)
