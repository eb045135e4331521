"""`almgen setup` against recording fakes of `az` and `gh`: idempotence, quota, dry-run goldens.

The fakes are one small Python program (written into tmp_path, named `az`, `gh` and `git`) that keeps
the world in a JSON file: what exists, and every call made. ALMGEN_AZ / ALMGEN_GH point at them.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from generator.cli import cli
from generator.commands.setup.quota import needs
from generator.spec.validate import load_spec
from tests.conftest import REPO, SAMPLE_NAMES, Golden

GOLDEN = REPO / "tests" / "golden" / "setup"

FAKE = r"""
import json, os, sys, hashlib

STATE = os.environ["ALMGEN_FAKE_STATE"]
tool = os.path.basename(sys.argv[0])
args = sys.argv[1:]
with open(STATE, encoding="utf-8") as f:
    w = json.load(f)
w["calls"].append([tool, *args])


def save():
    with open(STATE, "w", encoding="utf-8") as f:
        json.dump(w, f, indent=1)


def opt(name, default=None):
    return args[args.index(name) + 1] if name in args else default


def uid(*parts):
    h = hashlib.sha256("/".join(parts).encode()).hexdigest()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


def done(out="", code=0, err=""):
    save()
    if out:
        print(out)
    if err:
        print(err, file=sys.stderr)
    sys.exit(code)


def body():
    path = opt("--in-file") or opt("--service-endpoint-configuration") or opt("--role-definition")
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    if "<" in json.dumps(data):
        done(code=9, err=f"fake: a placeholder reached a body: {data}")
    return data


def has(*words):
    return args[: len(words)] == list(words)


def env_state(b):
    pairs = sorted(f"{r['type']}:{r['id']}" for r in b.get("reviewers") or [])  # null: none
    protected = bool((b.get("deployment_branch_policy") or {}).get("protected_branches"))
    return "reviewers=" + ",".join(pairs) + " protected_branches=" + json.dumps(protected)


if any("<" in a for a in args):
    done(code=9, err=f"fake: a placeholder reached the command line: {args}")

if tool == "az":
    if has("account", "show"):
        done(json.dumps({"id": w["subscription"], "tenantId": w["tenant"]}))
    if has("cognitiveservices", "account", "list"):
        group = opt("--resource-group")
        if group not in w["groups"]:
            done(code=3, err="ResourceGroupNotFound")
        done("\n".join(w.get("accounts", {}).get(group, {})))
    if has("cognitiveservices", "account", "deployment", "list"):
        done(json.dumps(w["accounts"][opt("--resource-group")][opt("--name")]))
    if has("cognitiveservices", "model", "list"):
        done(json.dumps(w["models"].get(opt("--location"), [])))
    if has("cognitiveservices", "usage", "list"):
        done(json.dumps(w["usages"].get(opt("--location"), [])))
    if has("provider", "show"):
        done("Registered" if opt("--namespace") in w["providers"] else "NotRegistered")
    if has("provider", "register"):
        w["providers"].append(opt("--namespace"))
        done()
    if has("group", "exists"):
        done(json.dumps(opt("--name") in w["groups"]))
    if has("group", "create"):
        w["groups"].append(opt("--name"))
        done("{}")
    if has("identity", "federated-credential", "show"):
        key = opt("--identity-name") + "/" + opt("--name")
        if key not in w["credentials"]:
            done(code=3, err="ResourceNotFound")
        done(w["credentials"][key])
    if has("identity", "federated-credential", "create"):
        if opt("--identity-name") not in w["identities"]:
            done(code=3, err="identity not found")
        w["credentials"][opt("--identity-name") + "/" + opt("--name")] = opt("--subject")
        done("{}")
    if has("identity", "show"):
        found = w["identities"].get(opt("--name"))
        if found is None:
            done(code=3, err="ResourceNotFound")
        done(found.get(opt("--query"), "x"))
    if has("identity", "create"):
        name = opt("--name")
        w["identities"][name] = {"id": name, "principalId": uid("p", name), "clientId": uid("c", name)}
        done("{}")
    if has("storage", "account", "show"):  # the user's own documents account exists before setup
        done(f"/subscriptions/{w['subscription']}/resourceGroups/rg-docs/providers/"
             f"Microsoft.Storage/storageAccounts/{opt('--name')}")
    if has("role", "definition", "list"):
        done(opt("--name") if opt("--name") in w["roles"] else "")
    if has("role", "definition", "create"):
        w["roles"].append(body()["Name"])
        done("{}")
    if has("role", "assignment", "list"):
        found = [a for a in w["assignments"] if a[:3] == [opt("--assignee"), opt("--role"), opt("--scope")]]
        if "condition!=null" in opt("--query", ""):
            found = [a for a in found if a[3]]
        done("\n".join(uid(*a[:3]) for a in found))
    if has("role", "assignment", "create"):
        who = opt("--assignee-object-id")
        w["assignments"].append([who, opt("--role"), opt("--scope"), opt("--condition")])
        done("{}")
    if has("devops", "configure"):
        done("[defaults]\norganization = https://dev.azure.com/contoso\nproject = ai\n")
    if has("devops", "service-endpoint", "list"):
        query = opt("--query")
        if query == "[].name":
            done("\n".join(w["endpoints"]))
        name, field = query.split("'")[1], query.split("].")[1].split(" |")[0]
        found = w["endpoints"].get(name)
        done(found[field.split(".")[-1]] if found else "")
    if has("devops", "service-endpoint", "create"):
        b = body()
        assert b["authorization"]["scheme"] == "WorkloadIdentityFederation"
        n = b["name"]
        w["endpoints"][n] = {
            "id": uid("e", n),
            "workloadIdentityFederationIssuer": "https://vstoken.dev.azure.com/" + uid("org"),
            "workloadIdentityFederationSubject": "sc://contoso/ai/" + n,
        }
        done("{}")
    if has("devops", "invoke"):
        area, method, query = opt("--area"), opt("--http-method"), opt("--query", "")
        if area == "distributedtask" and method == "GET":
            if query == "value[].name":
                done("\n".join(w["environments"]))
            name = query.split("'")[1]
            done(str(w["environments"].get(name, "")))
        if area == "distributedtask" and method == "POST":
            name = body()["name"]
            w["environments"][name] = len(w["environments"]) + 1
            done("{}")
        if area == "PipelinesChecks" and method == "GET":
            i = args.index("--query-parameters")
            rtype, rid = args[i + 1].split("=")[1], args[i + 2].split("=")[1]
            done("\n".join(c[2] for c in w["checks"] if c[:2] == [rtype, rid]))
        if area == "PipelinesChecks" and method == "POST":
            b = body()
            w["checks"].append([b["resource"]["type"], str(b["resource"]["id"]), b["type"]["name"]])
            done("{}")
        if area == "IMS":
            done(uid("ims", args[args.index("--query-parameters") + 2]))
        if area == "pipelinePermissions":
            i = args.index("--route-parameters")
            rtype, rid = args[i + 2].split("=")[1], args[i + 3].split("=")[1]
            if method == "GET":
                done("\n".join(p[2] for p in w["permissions"] if p[:2] == [rtype, rid]))
            if method == "PATCH":
                for p in body()["pipelines"]:
                    if str(p["id"]) not in {str(q["id"]) for q in w["pipelines"].values()}:
                        done(code=1, err=f"no pipeline {p['id']}")
                    w["permissions"].append([rtype, rid, str(p["id"])])
                done("{}")
    if has("pipelines", "list"):
        done("\n".join(n for n in w["pipelines"] if n.startswith(opt("--name"))))
    if has("pipelines", "show"):
        found = w["pipelines"].get(opt("--name"))
        done(str(found["id"])) if found else done(code=1, err="There is no pipeline with that name")
    if has("pipelines", "create"):
        if opt("--repository-type") != "tfsgit" or opt("--repository") != w["remote"].split("/")[-1]:
            done(code=1, err="repository not found")
        w["pipelines"][opt("--name")] = {"id": len(w["pipelines"]) + 11, "yaml": opt("--yaml-path")}
        done("{}")
elif tool == "git":
    if args[2:] == ["remote", "get-url", "origin"]:
        done(w["remote"]) if w["remote"] else done(code=2, err="error: No such remote 'origin'")
    if args[2:] == ["rev-parse", "--show-prefix"]:
        done(w["prefix"])
else:
    if has("repo", "view"):
        done(w["repo"])
    if has("api", "--method", "PUT"):
        path = args[3]
        w["gh_environments"][path] = json.load(sys.stdin)
        done("{}")
    if has("api"):
        path = args[1]
        if path == "repos/" + w["repo"]:
            owner, name = w["repo"].split("/")
            owner_ = {"login": owner, "id": 7}
            repo = {"id": 99, "full_name": w["repo"], "created_at": w["created_at"], "owner": owner_}
            done(json.dumps(repo))
        if path.endswith("/actions/oidc/customization/sub"):
            done(json.dumps(w["oidc"]))
        if path.startswith("orgs/"):
            slug = path.split("/")[-1]
            done(str(w["teams"][slug])) if slug in w["teams"] else done(code=1, err="HTTP 404")
        if path.startswith("users/"):
            user = path.split("/")[-1]
            done(str(w["users"][user])) if user in w["users"] else done(code=1, err="HTTP 404")
        if "/environments/" in path:
            found = w["gh_environments"].get(path)
            done(env_state(found)) if found is not None else done(code=1, err="HTTP 404")
    if has("variable", "get"):
        key = opt("--env") + "/" + args[2]
        done(w["variables"][key]) if key in w["variables"] else done(code=1, err="variable not found")
    if has("variable", "set"):
        w["variables"][opt("--env") + "/" + args[2]] = opt("--body")
        done()
done(code=2, err=f"fake {tool}: unknown command {args}")
"""


def world(sample: str, *, limit: int = 1000, used: int = 0) -> dict[str, Any]:
    """An empty subscription and repository that offer the sample's models with room for them."""
    spec = load_spec(REPO / "samples" / sample / "almgen.yaml")
    models: dict[str, list[Any]] = {}
    usages: dict[str, list[Any]] = {}
    for region in spec.regions:
        for m in spec.foundation_models:
            models.setdefault(region, []).append(
                {
                    "model": {
                        "format": m.format,
                        "name": m.model,
                        "version": m.version,
                        "skus": [{"name": m.sku}],
                    }
                }
            )
            usages.setdefault(region, []).append(
                {"name": {"value": f"{m.format}.{m.sku}.{m.model}"}, "currentValue": used, "limit": limit}
            )
    return {
        "calls": [],
        "subscription": "11111111-1111-1111-1111-111111111111",
        "tenant": "22222222-2222-2222-2222-222222222222",
        "repo": f"contoso/{spec.service.name}",
        "created_at": "2026-08-01T00:00:00Z",
        "oidc": {"use_default": True},
        "teams": {"ai-leads": 501},
        "users": {"support-operations": 601, "risk-ml-leads": 602, "fraud-operations": 603},
        "models": models,
        "usages": usages,
        "providers": [],
        "groups": [],
        "identities": {},
        "credentials": {},
        "roles": [],
        "assignments": [],
        "endpoints": {},
        "environments": {},
        "checks": [],
        "remote": f"https://dev.azure.com/contoso/ai/_git/{spec.service.name}",
        "prefix": "",
        "pipelines": {},
        "permissions": [],
        "gh_environments": {},
        "variables": {},
    }


class Fakes:
    def __init__(self, tmp: Path, state: dict[str, Any]) -> None:
        tmp.mkdir(exist_ok=True)
        self.state = tmp / "world.json"
        self.state.write_text(json.dumps(state), "utf-8")
        bin_ = tmp / "bin"
        bin_.mkdir()
        for tool in ("az", "gh", "git"):
            path = bin_ / tool
            path.write_text(f"#!{sys.executable} -S\n{FAKE}", "utf-8")
            path.chmod(path.stat().st_mode | stat.S_IEXEC)
        self.env = {
            "ALMGEN_AZ": str(bin_ / "az"),
            "ALMGEN_GH": str(bin_ / "gh"),
            "ALMGEN_GIT": str(bin_ / "git"),
            "ALMGEN_FAKE_STATE": str(self.state),
        }

    def read(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.state.read_text("utf-8"))
        return data

    def run(self, spec: Path, *args: str) -> Any:
        return CliRunner().invoke(cli, ["setup", str(spec), *args], env=self.env, catch_exceptions=False)


def _copy(sample: str, tmp: Path) -> Path:
    shutil.copytree(REPO / "samples" / sample, tmp / "repo")
    return tmp / "repo" / "almgen.yaml"


CREATES = ("create", "register", "set", "PUT", "POST", "PATCH")


def _creating(calls: list[list[str]]) -> list[list[str]]:
    return [c for c in calls if any(word in c for word in CREATES) and "GET" not in c]


@pytest.mark.parametrize("sample", SAMPLE_NAMES)
def test_setup_twice_creates_everything_once_then_nothing(sample: str, tmp_path: Path) -> None:
    fakes = Fakes(tmp_path, world(sample))
    spec = _copy(sample, tmp_path)
    first = fakes.run(spec, "--format", "json")
    assert first.exit_code == 0, first.output
    report = json.loads(first.stdout)
    assert report["actions"] and all(a["status"] == "created" for a in report["actions"]), first.stdout
    created = _creating(fakes.read()["calls"])
    assert len(created) == len(report["actions"])

    calls_before = len(fakes.read()["calls"])
    second = fakes.run(spec, "--format", "json")
    assert second.exit_code == 0, second.output
    assert {a["status"] for a in json.loads(second.stdout)["actions"]} == {"exists"}
    assert _creating(fakes.read()["calls"][calls_before:]) == []


def test_setup_wires_identities_subjects_and_checks(tmp_path: Path) -> None:
    fakes = Fakes(tmp_path, world("enterprise"))
    spec = _copy("enterprise", tmp_path)
    assert fakes.run(spec).exit_code == 0
    w = fakes.read()
    # a repository created after July 2026 with the default template: owner and repo IDs
    assert w["credentials"]["id-support-agent-deploy-prod/github-prod"] == (
        "repo:contoso@7/support-agent@99:environment:prod"
    )
    assert (
        w["credentials"]["id-support-agent-deploy-prod/azure-devops-prod"]
        == "sc://contoso/ai/azure-support-agent-prod"
    )
    prod = w["identities"]["id-support-agent-deploy-prod"]
    assert w["variables"]["prod/AZURE_CLIENT_ID"] == prod["clientId"]
    # the credential's environment has no reviewers (GitHub would ask them for every job); they
    # approve once, in the approval environment
    assert w["gh_environments"]["repos/contoso/support-agent/environments/prod"] == {
        "deployment_branch_policy": {"protected_branches": True, "custom_branch_policies": False},
        "reviewers": None,
    }
    assert w["gh_environments"]["repos/contoso/support-agent/environments/prod-approval"] == {
        "deployment_branch_policy": {"protected_branches": True, "custom_branch_policies": False},
        "reviewers": [{"type": "Team", "id": 501}, {"type": "User", "id": 601}],
        "prevent_self_review": True,
    }
    assert "prod-approval/AZURE_CLIENT_ID" not in w["variables"]  # no credential to approve with
    endpoint = w["endpoints"]["azure-support-agent-prod"]["id"]
    on_endpoint = sorted(c[2] for c in w["checks"] if c[:2] == ["endpoint", endpoint])
    assert on_endpoint == [
        "Approval",
        "Task Check",
    ]  # the same approval and branch control as the environment
    prod_env = str(w["environments"]["prod"])
    assert sorted(c[2] for c in w["checks"] if c[:2] == ["environment", prod_env]) == [
        "Approval",
        "ExclusiveLock",
        "Task Check",
    ]
    # every role assignment names the identity's principal, never a placeholder
    principals = {i["principalId"] for i in w["identities"].values()}
    assert {a[0] for a in w["assignments"]} == principals


def test_azure_devops_pipelines_are_created_and_may_use_what_they_name(tmp_path: Path) -> None:
    """A first push runs without waiting for anyone to permit a resource: setup creates both
    pipelines from the generated files (not run) and lets each use exactly the environments and
    service connections its YAML names (tests/golden/enterprise/.azure-pipelines)."""
    state = world("enterprise")
    state["prefix"] = "services/agent/"  # the spec is not at the repository's root
    fakes = Fakes(tmp_path, state)
    assert fakes.run(_copy("enterprise", tmp_path)).exit_code == 0
    w = fakes.read()
    assert {name: p["yaml"] for name, p in w["pipelines"].items()} == {
        "support-agent": "services/agent/.azure-pipelines/support-agent.yml",
        "support-agent-lifecycle": "services/agent/.azure-pipelines/support-agent-lifecycle.yml",
    }
    creates = [c for c in w["calls"] if c[1:3] == ["pipelines", "create"]]
    assert all(c[c.index("--skip-first-run") + 1] == "true" for c in creates)
    ids = {str(p["id"]): name for name, p in w["pipelines"].items()}
    environments = {str(i): name for name, i in w["environments"].items()}
    endpoints = {e["id"]: name for name, e in w["endpoints"].items()}
    allowed = sorted(
        (ids[pipeline], environments.get(rid) or endpoints[rid]) for _, rid, pipeline in w["permissions"]
    )
    assert allowed == [
        ("support-agent", "azure-support-agent-dev"),
        ("support-agent", "azure-support-agent-prod"),
        ("support-agent", "azure-support-agent-staging"),
        ("support-agent", "dev"),
        ("support-agent", "prod"),
        ("support-agent", "staging"),
        ("support-agent-lifecycle", "azure-support-agent-dev"),
        ("support-agent-lifecycle", "azure-support-agent-prod-monitoring"),
    ]
    golden = REPO / "tests" / "golden" / "enterprise" / ".azure-pipelines"
    named = {
        (pipeline, line.split(": ", 1)[1].strip('"'))
        for pipeline in ("support-agent", "support-agent-lifecycle")
        for line in (golden / f"{pipeline}.yml").read_text("utf-8").splitlines()
        if line.strip().startswith(('environment: "', 'azureSubscription: "'))
    }
    assert named <= set(allowed)  # every literal name; the templates' parameters are the environments'


def test_a_clone_without_a_known_remote_stops_before_anything_is_created(tmp_path: Path) -> None:
    state = world("custom-model-devops")
    state["remote"] = ""
    fakes = Fakes(tmp_path, state)
    result = fakes.run(_copy("custom-model-devops", tmp_path))
    assert result.exit_code == 3
    assert "no remote `origin` on Azure Repos or GitHub" in result.output
    assert _creating(fakes.read()["calls"]) == []


@pytest.mark.parametrize(
    ("url", "found"),
    [
        ("https://dev.azure.com/contoso/ai/_git/support-agent", ("tfsgit", "support-agent")),
        ("https://contoso@dev.azure.com/contoso/ai/_git/support%20agent", ("tfsgit", "support agent")),
        ("https://contoso.visualstudio.com/DefaultCollection/ai/_git/app", ("tfsgit", "app")),
        ("git@ssh.dev.azure.com:v3/contoso/ai/app", ("tfsgit", "app")),
        ("contoso@vs-ssh.visualstudio.com:v3/contoso/ai/app", ("tfsgit", "app")),
        ("https://github.com/contoso/app.git", ("github", "contoso/app")),
        ("git@github.com:contoso/app.git", ("github", "contoso/app")),
        ("https://gitlab.com/contoso/app.git", None),
        ("https://dev.azure.com/contoso/ai", None),
        ("", None),
    ],
)
def test_the_repository_is_read_from_the_clones_remote(url: str, found: tuple[str, str] | None) -> None:
    from generator.commands.setup.devops import repository_from_remote

    assert repository_from_remote(url) == found


def test_the_production_evaluation_has_its_own_reviewer_free_read_and_call_identity(tmp_path: Path) -> None:
    """The scheduled evaluation runs unattended: a monitoring identity bound to `prod-monitoring`
    (GitHub, no reviewers) and `<connection>-monitoring` (Azure DevOps, branch control, no approval),
    holding read-and-call roles only: never what deploys (Contributor, RBAC Administrator, data owner)."""
    from generator.commands.setup import roles

    fakes = Fakes(tmp_path, world("enterprise"))
    spec = _copy("enterprise", tmp_path)
    assert fakes.run(spec).exit_code == 0
    w = fakes.read()
    monitor = w["identities"]["id-support-agent-monitor-prod"]
    deploy = w["identities"]["id-support-agent-deploy-prod"]
    assert monitor["clientId"] != deploy["clientId"]
    assert w["credentials"]["id-support-agent-monitor-prod/github-prod-monitoring"] == (
        "repo:contoso@7/support-agent@99:environment:prod-monitoring"
    )
    assert w["gh_environments"]["repos/contoso/support-agent/environments/prod-monitoring"] == {
        "deployment_branch_policy": {"protected_branches": True, "custom_branch_policies": False},
        "reviewers": None,
    }
    assert w["variables"]["prod-monitoring/AZURE_CLIENT_ID"] == monitor["clientId"]
    assert w["variables"]["prod/AZURE_CLIENT_ID"] == deploy["clientId"]
    assert (
        w["credentials"]["id-support-agent-monitor-prod/azure-devops-prod-monitoring"]
        == "sc://contoso/ai/azure-support-agent-prod-monitoring"
    )
    endpoint = w["endpoints"]["azure-support-agent-prod-monitoring"]["id"]
    assert sorted(c[2] for c in w["checks"] if c[:2] == ["endpoint", endpoint]) == ["Task Check"]
    held = {a[1] for a in w["assignments"] if a[0] == monitor["principalId"]}
    deploying = {roles.CONTRIBUTOR, roles.RBAC_ADMINISTRATOR, roles.APP_CONFIGURATION_DATA_OWNER}
    assert held and not held & deploying
    assert {
        roles.READER,
        roles.OPENAI_USER,
        roles.AZURE_AI_USER,
        roles.monitor_role_name(load_spec(spec)),
    } <= held
    # nothing of the monitoring identity at subscription scope but the custom read role
    at_subscription = {
        a[1] for a in w["assignments"] if a[0] == monitor["principalId"] and "resourceGroups" not in a[2]
    }
    assert at_subscription == {roles.monitor_role_name(load_spec(spec))}


def test_legacy_repository_and_custom_claims(tmp_path: Path) -> None:
    state = world("minimal")
    state["created_at"] = "2020-01-01T00:00:00Z"
    fakes = Fakes(tmp_path, state)
    spec = _copy("minimal", tmp_path)
    assert fakes.run(spec).exit_code == 0
    assert fakes.read()["credentials"]["id-hello-chat-deploy-dev/github-dev"] == (
        "repo:contoso/hello-chat:environment:dev"
    )


def test_custom_claim_keys_build_the_subject(tmp_path: Path) -> None:
    state = world("minimal")
    state["oidc"] = {
        "use_default": False,
        "include_claim_keys": ["repository_owner_id", "repository_id", "context"],
    }
    fakes = Fakes(tmp_path, state)
    spec = _copy("minimal", tmp_path)
    assert fakes.run(spec).exit_code == 0
    assert fakes.read()["credentials"]["id-hello-chat-deploy-dev/github-dev"] == (
        "repository_owner_id:7:repository_id:99:environment:dev"
    )


def test_no_quota_fails_before_anything_is_created(tmp_path: Path) -> None:
    fakes = Fakes(tmp_path, world("enterprise", limit=450, used=450))
    spec = _copy("enterprise", tmp_path)
    result = fakes.run(spec)
    assert result.exit_code == 3
    assert (
        "gpt-4o 2024-11-20 GlobalStandard has 0 of 400 TPM (thousands) free in swedencentral (for prod); "
        "ask for quota or pick another region"
    ) in result.stderr
    assert _creating(fakes.read()["calls"]) == []


def test_quota_the_spec_already_uses_counts_as_its_own(tmp_path: Path) -> None:
    """A re-run after the pipeline deployed: the usage includes the spec's own deployments."""
    spec_ = load_spec(REPO / "samples" / "minimal" / "almgen.yaml")
    (need,) = needs(spec_, spec_.environments)
    state = world("minimal", limit=need.capacity, used=need.capacity)
    group = spec_.environments[0].primary.resource_group
    state["groups"] = [group]
    state["accounts"] = {
        group: {
            "ais-hello-chat-dev-abc123": [
                {
                    "properties": {
                        "model": {"format": need.format, "name": need.model, "version": need.version}
                    },
                    "sku": {"name": need.sku, "capacity": need.capacity},
                }
            ]
        }
    }
    fakes = Fakes(tmp_path, state)
    spec = _copy("minimal", tmp_path)
    assert fakes.run(spec, "--dry-run").exit_code == 0
    state["accounts"] = {}
    fakes = Fakes(tmp_path / "again", state)
    result = fakes.run(spec, "--dry-run")
    assert result.exit_code == 3
    assert f"has 0 of {need.capacity} TPM (thousands) free in eastus2" in result.stderr


def test_a_model_not_offered_fails_with_exit_3(tmp_path: Path) -> None:
    state = world("minimal")
    state["models"] = {region: [] for region in state["models"]}
    fakes = Fakes(tmp_path, state)
    result = fakes.run(_copy("minimal", tmp_path))
    assert result.exit_code == 3
    assert "gpt-4o-mini 2024-07-18 GlobalStandard (OpenAI) is not offered in eastus2" in result.stderr


def test_unknown_env_is_a_usage_error(tmp_path: Path) -> None:
    fakes = Fakes(tmp_path, world("minimal"))
    result = fakes.run(_copy("minimal", tmp_path), "--env", "qa")
    assert result.exit_code == 2
    assert "no environment 'qa' in the spec; it has dev" in result.stderr
    assert fakes.read()["calls"] == []


def test_only_the_environment_asked(tmp_path: Path) -> None:
    fakes = Fakes(tmp_path, world("enterprise"))
    result = fakes.run(_copy("enterprise", tmp_path), "--env", "staging", "--format", "json")
    assert result.exit_code == 0, result.output
    groups = {a["group"] for a in json.loads(result.stdout)["actions"]}
    assert groups == {"subscription", "azure-devops", "staging"}  # the pipelines serve every environment


def test_a_failing_command_stops_with_its_message(tmp_path: Path) -> None:
    fakes = Fakes(tmp_path, world("minimal"))
    env = dict(fakes.env)
    env["ALMGEN_GH"] = str(tmp_path / "missing-gh")
    result = CliRunner().invoke(cli, ["setup", str(_copy("minimal", tmp_path))], env=env)
    assert result.exit_code == 3
    assert "missing-gh" in result.stderr and "ALMGEN_GH" in result.stderr


@pytest.mark.parametrize("sample", SAMPLE_NAMES)
def test_dry_run_output_matches_the_golden_file(sample: str, tmp_path: Path, golden: Golden) -> None:
    fakes = Fakes(tmp_path, world(sample))
    result = fakes.run(_copy(sample, tmp_path), "--dry-run")
    assert result.exit_code == 0, result.output
    assert _creating(fakes.read()["calls"]) == []
    golden.check(GOLDEN / f"{sample}.txt", result.stdout)


def test_commands_are_echoed_before_they_run(tmp_path: Path) -> None:
    fakes = Fakes(tmp_path, world("minimal"))
    result = fakes.run(_copy("minimal", tmp_path))
    assert "$ az identity create --resource-group rg-hello-chat-identities" in result.stderr
    assert os.environ.get("ALMGEN_FAKE_STATE") is None
