"""The simulated Azure behind the rehearsal's `az` stand-in (generator.rehearse.azure)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from generator.rehearse.azure import bicepparam, setup
from generator.rehearse.azure.snapshot import traffic_snapshot
from generator.rehearse.azure.store import locked
from generator.rehearse.world import World
from generator.runtime import traffic
from generator.spec.validate import load_spec

REPO = Path(__file__).resolve().parents[2]
SAMPLES = ("enterprise", "custom-model-devops", "openai-chat-github", "minimal")
CALLS: list[list[str]] = []  # every az line the sim received in this module (checked by the slow test)
# CALLS is shared by the module's tests: scripts/test.sh runs a module on one worker (--dist loadfile)
LOGIN = ["login", "--service-principal", "--username", "app", "--tenant", "t", "--federated-token", "x"]


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = {}
    for name in SAMPLES:
        folder = tmp_path_factory.mktemp(name)
        shutil.copytree(REPO / "samples" / name, folder, dirs_exist_ok=True)
        subprocess.run(
            [sys.executable, "-m", "generator", "generate", str(folder / "almgen.yaml")],
            check=True,
            capture_output=True,
            cwd=folder,
        )
        out[name] = folder
    return out


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    made = World.create(tmp_path / "world")
    yield made
    calls = made.root / "az-calls.jsonl"
    if calls.exists():
        CALLS.extend(json.loads(line)["argv"] for line in calls.read_text("utf-8").splitlines())


def az(world: World, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environ = world.environ()
    environ.update(env or {})
    return subprocess.run(
        [str(world.bin / "az"), *args], capture_output=True, text=True, env=environ, check=False
    )


def az_ok(world: World, *args: str, env: dict[str, str] | None = None) -> Any:
    done = az(world, *args, env=env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout) if done.stdout.strip() else None


def after_setup(world: World, folder: Path) -> None:
    """What `almgen setup` makes before the first push, as the rehearsal seeds it."""
    with locked(world.azure_file) as state:
        setup.seed(state, load_spec(folder / "almgen.yaml"))


def deploy(world: World, folder: Path, env: str, name: str = "d1", live: str = "{}") -> dict[str, Any]:
    after_setup(world, folder)
    out: dict[str, Any] = az_ok(
        world,
        "deployment",
        "sub",
        "create",
        "--name",
        name,
        "--location",
        "eastus2",
        "--template-file",
        str(folder / "infra/main.bicep"),
        "--parameters",
        str(folder / f"infra/env/{env}.bicepparam"),
        "--query",
        "properties.outputs",
        "--output",
        "json",
        env={"ALMGEN_LIVE_STATE": live},
    )
    return out


def bicep_outputs(folder: Path) -> set[str]:
    text = (folder / "infra/main.bicep").read_text("utf-8")
    block = text[text.index("output stacks array") :]
    block = block[: block.index("}]")]
    return set(re.findall(r"^\s+(\w+):", block, re.MULTILINE))


# ---- the command line ----------------------------------------------------------------------------
def test_no_login_and_expiry(world: World) -> None:
    done = az(world, "account", "show")
    assert done.returncode == 1 and "Please run 'az login' to setup account." in done.stderr
    az_ok(world, *LOGIN)
    assert az_ok(world, "account", "show")["isDefault"] is True
    world.advance(61 * 60)
    done = az(world, "group", "exists", "--name", "rg")
    assert done.returncode == 1
    assert "ERROR: AADSTS700024: Client assertion is not within its valid time range." in done.stderr
    az_ok(world, *LOGIN)
    assert az_ok(world, "group", "exists", "--name", "rg") is False


def test_unknown_command_and_flag(world: World) -> None:
    az_ok(world, *LOGIN)
    done = az(world, "spring", "app", "list")
    assert done.returncode == 2 and "'spring app list' is misspelled or not recognized" in done.stderr
    done = az(world, "group", "show", "--name", "x", "--foo", "1")
    assert done.returncode == 2 and "unrecognized arguments: --foo 1" in done.stderr
    done = az(world, "deployment", "sub", "show", "--name", "x")
    assert done.returncode == 3
    assert "ERROR: (DeploymentNotFound) Deployment 'x' could not be found." in done.stderr
    lines = (world.root / "az-calls.jsonl").read_text("utf-8").splitlines()
    assert json.loads(lines[-1])["argv"] == ["deployment", "sub", "show", "--name", "x"]


def test_bicepparam_literals() -> None:
    text = (
        "using 'x'\nparam a = 'it''s'\nparam b = [\n  1\n  true\n]\nparam c = {\n  'k-1': null\n  d: 2.5\n}\n"
    )
    text = text.replace("''", "\\'") + "param e = readEnvironmentVariable('E', 'dflt') // note\n"
    assert bicepparam.parse(text, {}) == {
        "a": "it's",
        "b": [1, True],
        "c": {"k-1": None, "d": 2.5},
        "e": "dflt",
    }
    assert bicepparam.parse(text, {"E": "set"})["e"] == "set"


# ---- deployments -----------------------------------------------------------------------------------
@pytest.mark.parametrize("sample", SAMPLES)
def test_deploy_outputs_match_main_bicep_and_recreate_is_a_no_op(
    world: World, generated: dict[str, Path], sample: str
) -> None:
    folder = generated[sample]
    az_ok(world, *LOGIN)
    env = sorted(p.stem for p in (folder / "infra/env").glob("*.bicepparam"))[-1]
    env = "prod" if (folder / "infra/env/prod.bicepparam").exists() else env
    outputs = deploy(world, folder, env)
    stacks = outputs["stacks"]["value"]
    assert stacks and all(set(stack) == bicep_outputs(folder) for stack in stacks)
    before = world.azure_file.read_text("utf-8")
    whatif = az_ok(
        world,
        "deployment",
        "sub",
        "what-if",
        "--name",
        "d1",
        "--location",
        "eastus2",
        "--template-file",
        str(folder / "infra/main.bicep"),
        "--parameters",
        str(folder / f"infra/env/{env}.bicepparam"),
    )
    assert {c["changeType"] for c in whatif["changes"]} == {"NoChange"}
    az_ok(
        world,
        "deployment",
        "sub",
        "what-if",
        "--name",
        "d1",
        "--location",
        "eastus2",
        "--template-file",
        str(folder / "infra/main.bicep"),
        "--parameters",
        str(folder / f"infra/env/{env}.bicepparam"),
        "--exclude-change-types",
        "NoChange",
        "Ignore",
    )
    deploy(world, folder, env)
    events = [e for e in world.timeline() if e["kind"] == "azure-deployment"]
    assert [e["changed"] for e in events] == [True, False]
    after = json.loads(world.azure_file.read_text("utf-8"))
    assert {k: v for k, v in after.items() if k not in ("events", "deployments")} == {
        k: v for k, v in json.loads(before).items() if k not in ("events", "deployments")
    }


def test_live_state_keeps_serving_version_and_routing(world: World, generated: dict[str, Path]) -> None:
    folder = generated["enterprise"]
    az_ok(world, *LOGIN)
    live = {
        "active": {"chat": "chat-green"},
        "versions": {"chat-green": "2024-08-06"},
        "canary": {"embeddings": {"deployment": "embeddings-green", "percent": 10}},
    }
    stack = deploy(world, folder, "prod", live=json.dumps(live))["stacks"]["value"][0]
    listed = az_ok(
        world,
        "cognitiveservices",
        "account",
        "deployment",
        "list",
        "-g",
        stack["resourceGroup"],
        "-n",
        stack["aiServicesName"],
    )
    versions = {d["name"]: d["properties"]["model"]["version"] for d in listed}
    assert versions["chat-green"] == "2024-08-06" and versions["chat-blue"] == "2024-11-20"
    snap = traffic_snapshot(world)["environments"]["prod"]["eastus2"]["models"]
    assert snap["chat"]["shares"] == {"chat-green": 100}
    assert snap["embeddings"]["shares"] == {"embeddings-blue": 90, "embeddings-green": 10}
    assert snap["embeddings"]["gateway"]  # the gateway's pool kept the live weights on the re-deploy


def test_region_fault_fails_after_the_earlier_stacks(tmp_path: Path, generated: dict[str, Path]) -> None:
    world = World.create(
        tmp_path / "w", faults=[{"kind": "region", "env": "prod", "region": "swedencentral"}]
    )
    after_setup(world, generated["enterprise"])
    az_ok(world, *LOGIN)
    done = az(
        world,
        "deployment",
        "sub",
        "create",
        "--name",
        "d1",
        "--location",
        "eastus2",
        "--template-file",
        "main.bicep",
        "--parameters",
        str(generated["enterprise"] / "infra/env/prod.bicepparam"),
    )
    assert done.returncode == 1 and "DeploymentFailed" in done.stderr
    assert az_ok(world, "group", "exists", "-n", "rg-support-agent-prod-eus2") is True
    assert az_ok(world, "group", "exists", "-n", "rg-support-agent-prod-swc") is False


def test_without_almgen_setup_the_search_identity_is_missing_and_the_deploy_fails(
    world: World, generated: dict[str, Path]
) -> None:
    """search.bicep references the documents reader as `existing`: as in Azure, a missing one fails
    the deployment by name, instead of a first index build that cannot read the documents."""
    az_ok(world, *LOGIN)
    done = az(
        world, "deployment", "sub", "create", "--name", "d1", "--location", "eastus2", "--template-file",
        "main.bicep", "--parameters", str(generated["enterprise"] / "infra/env/dev.bicepparam"),
    )  # fmt: skip
    assert done.returncode == 1
    assert "userAssignedIdentities/id-support-agent-search-dev' under resource group" in done.stderr


def test_slow_deploy_advances_the_clock(tmp_path: Path, generated: dict[str, Path]) -> None:
    world = World.create(tmp_path / "w", faults=[{"kind": "slow-deploy", "env": "prod", "minutes": 400}])
    az_ok(world, *LOGIN)
    deploy(world, generated["enterprise"], "prod")
    assert world.minutes() >= 400


# ---- App Configuration, ML, other families -------------------------------------------------------
def test_appconfig_ml_locks_roles_rest(world: World, generated: dict[str, Path]) -> None:
    az_ok(world, *LOGIN)
    stacks = deploy(world, generated["custom-model-devops"], "prod")["stacks"]["value"]
    store = ["--endpoint", stacks[0]["appConfigurationEndpoint"], "--auth-mode", "login"]
    az_ok(world, "appconfig", "kv", "set", *store, "--key", "a:b", "--label", "prod", "--value", "1", "--yes")
    assert az_ok(world, "appconfig", "kv", "show", *store, "--key", "a:b", "--label", "prod")["value"] == "1"
    keys = [
        i["key"] for i in az_ok(world, "appconfig", "kv", "list", *store, "--label", "prod", "--key", "a:*")
    ]
    assert keys == ["a:b"]
    scope = ["-g", stacks[0]["resourceGroup"], "-w", stacks[0]["workspaceName"]]
    endpoint = stacks[0]["onlineEndpoints"][0]["name"]
    assert az_ok(world, "ml", "online-endpoint", "show", "--name", endpoint, *scope)["traffic"] == {}
    done = az(world, "ml", "online-endpoint", "update", "--name", endpoint, *scope, "--traffic", "blue=100")
    assert done.returncode == 1 and "does not exist" in done.stderr
    spec = world.root / "deployment.yml"
    spec.write_text(f"name: blue\nendpoint_name: {endpoint}\nmodel: azureml:m:1\n", "utf-8")
    az_ok(world, "ml", "online-deployment", "create", "--file", str(spec), *scope, "--all-traffic")
    assert az_ok(world, "ml", "online-endpoint", "show", "--name", endpoint, *scope)["traffic"] == {
        "blue": 100
    }
    listed = az_ok(world, "ml", "online-deployment", "list", "--endpoint-name", endpoint, *scope)
    assert [(d["name"], d["model"]) for d in listed] == [("blue", "azureml:m:1")]
    az_ok(world, "ml", "model", "create", "--name", "m", "--version", "1", "--path", "x", *scope)
    az_ok(world, "ml", "model", "update", "--name", "m", "--version", "1", *scope, "--set", "tags.stage=prod")
    assert az_ok(world, "ml", "model", "show", "--name", "m", "--version", "1", *scope)["tags"] == {
        "stage": "prod"
    }
    az_ok(world, "ml", "job", "create", "--file", "job.yml", "--name", "j1", *scope)
    status = ["ml", "job", "show", "-n", "j1", *scope, "--query", "status", "-o", "tsv"]
    assert az(world, *status).stdout.strip() == "Running"
    world.advance(30 * 60)
    az_ok(world, *LOGIN)
    assert az(world, *status).stdout.strip() == "Completed"
    az_ok(
        world,
        "lock",
        "create",
        "--name",
        "l",
        "--lock-type",
        "CanNotDelete",
        "-g",
        stacks[0]["resourceGroup"],
    )
    assert any(lock["name"] == "l" for lock in az_ok(world, "lock", "list"))
    az_ok(
        world,
        "role",
        "assignment",
        "create",
        "--assignee-object-id",
        "p",
        "--assignee-principal-type",
        "ServicePrincipal",
        "--role",
        "Reader",
        "--scope",
        "/subscriptions/x",
    )
    assert az_ok(world, "role", "assignment", "list", "--all")[0]["roleDefinitionName"] == "Reader"


def test_the_agent_service_keeps_immutable_versions(world: World, generated: dict[str, Path]) -> None:
    az_ok(world, *LOGIN)
    stacks = deploy(world, generated["enterprise"], "prod")["stacks"]["value"]
    project = f"https://{stacks[0]['aiServicesName']}.services.ai.azure.com/api/projects/agents"
    url = f"{project}/agents/helper/versions?api-version=v1"
    rest = ["rest", "--resource", "https://ai.azure.com", "--url"]
    state = json.loads(world.azure_file.read_text("utf-8"))
    account = next(a for a in state["accounts"].values() if a["name"] == stacks[0]["aiServicesName"])
    model = sorted(account["deployments"])[0]
    definition = {"kind": "prompt", "model": model, "instructions": "Help.", "tools": []}
    body = {"definition": definition, "metadata": {"version": "1.0.0"}}
    first = az_ok(world, *rest, url, "--method", "post", "--body", json.dumps(body))
    second = az_ok(world, *rest, url, "--method", "post", "--body", json.dumps(body))
    assert (first["version"], second["version"]) == ("1", "2")  # immutable: every create is a new version
    region = traffic_snapshot(world)["environments"]["prod"][stacks[0]["location"]]
    assert region["agents"] == {  # nothing is live until App Configuration names a version
        "helper": {
            "live": None,
            "version": None,
            "model": None,
            "shares": {},
            "versions": {"1": "1.0.0", "2": "1.0.0"},
        }
    }
    assert [v["version"] for v in az_ok(world, *rest, url)["data"]] == ["2", "1"]  # newest first
    latest = az_ok(world, *rest, f"{project}/agents/helper?api-version=v1")
    assert latest["versions"]["latest"]["version"] == "2"
    az_ok(world, *rest, f"{project}/agents/helper/versions/1?api-version=v1", "--method", "delete")
    assert [v["version"] for v in az_ok(world, *rest, url)["data"]] == ["2"]
    refused = [  # a deployment the account lacks, a tool without its resource, another api-version
        {**body, "definition": {**definition, "model": "nowhere"}},
        {**body, "definition": {**definition, "tools": [{"type": "file_search"}]}},
    ]
    for wrong in refused:
        answer = az(world, *rest, url, "--method", "post", "--body", json.dumps(wrong))
        assert answer.returncode == 1 and answer.stderr.startswith("ERROR: Bad Request("), answer.stderr
    other = az(world, *rest, url.replace("=v1", "=2025-05-01"))
    assert other.returncode == 1 and "invalid_api_version" in other.stderr
    missing = az(world, *rest, f"{project}/agents/nobody/versions?api-version=v1")
    assert missing.returncode == 1 and missing.stderr.startswith("ERROR: Not Found(")
    unknown = az(world, *rest, url.replace(stacks[0]["aiServicesName"], "nowhere"))
    assert unknown.returncode == 1 and unknown.stderr.startswith("ERROR: Not Found(")


def test_concurrent_calls_lose_no_write(world: World, generated: dict[str, Path]) -> None:
    az_ok(world, *LOGIN)
    stack = deploy(
        world,
        generated["minimal"],
        "prod"
        if (generated["minimal"] / "infra/env/prod.bicepparam").exists()
        else sorted(p.stem for p in (generated["minimal"] / "infra/env").glob("*.bicepparam"))[0],
    )
    endpoint = stack["stacks"]["value"][0]["appConfigurationEndpoint"]
    environ = world.environ()
    runs = [
        subprocess.Popen(
            [
                str(world.bin / "az"),
                "appconfig",
                "kv",
                "set",
                "--endpoint",
                endpoint,
                "--auth-mode",
                "login",
                "--key",
                f"k:{n}",
                "--label",
                "x",
                "--value",
                str(n),
                "--yes",
                "-o",
                "none",
            ],
            env=environ,
        )
        for n in range(8)
    ]
    assert [run.wait() for run in runs] == [0] * 8
    listed = az(
        world,
        "appconfig",
        "kv",
        "list",
        "--endpoint",
        endpoint,
        "--auth-mode",
        "login",
        "--label",
        "x",
        "--key",
        "k:*",
        "--query",
        "[].value",
        "-o",
        "tsv",
    )
    assert sorted(listed.stdout.split()) == [str(n) for n in range(8)]


# ---- the AI gateway ------------------------------------------------------------------------------


def _pool_url(stack: dict[str, Any], model: str, api: str = "2024-05-01") -> str:
    return f"https://management.azure.com{stack['gatewayId']}/backends/pool-{model}?api-version={api}"


def test_the_gateway_pool_is_read_and_patched_with_az_rest(world: World, generated: dict[str, Path]) -> None:
    az_ok(world, *LOGIN)
    stack = deploy(world, generated["enterprise"], "prod")["stacks"]["value"][0]
    url = _pool_url(stack, "chat")
    shown = az_ok(world, "rest", "--method", "get", "--url", url)
    assert shown["properties"]["pool"]["services"] == [  # prod has two regions: the other at priority 2
        {"id": f"{stack['gatewayId']}/backends/deployment-chat-blue", "priority": 1, "weight": 100},
        {"id": f"{stack['gatewayId']}/backends/remote-swedencentral-chat-blue", "priority": 2, "weight": 100},
    ]
    backend = f"{stack['gatewayId']}/backends/deployment-"
    services = [{"id": f"{backend}chat-blue", "weight": 70}, {"id": f"{backend}chat-green", "weight": 30}]
    body = json.dumps({"properties": {"pool": {"services": services}}})
    refused = az(world, "rest", "--method", "patch", "--url", url, "--body", body)  # no If-Match
    assert refused.returncode == 1 and "IfMatch" in refused.stderr
    wrong_api = az(world, "rest", "--method", "get", "--url", _pool_url(stack, "chat", "2021-08-01"))
    assert wrong_api.returncode == 1
    az_ok(world, "rest", "--method", "patch", "--url", url, "--headers", "If-Match=*", "--body", body)
    models = traffic_snapshot(world)["environments"]["prod"]["eastus2"]["models"]
    assert models["chat"]["shares"] == {"chat-blue": 70, "chat-green": 30}


def test_an_agent_bound_through_the_gateway_connection_follows_the_models_pool(
    world: World, generated: dict[str, Path]
) -> None:
    """`<connection>/<model>`: the project's ApiManagement connection to the gateway; the agent's calls
    land on the pool's members, weight for weight; a connection or model it does not have is refused."""
    az_ok(world, *LOGIN)
    stack = deploy(world, generated["enterprise"], "prod")["stacks"]["value"][0]
    assert stack["agentsConnection"] == "ai-gateway"
    project = f"https://{stack['aiServicesName']}.services.ai.azure.com/api/projects/agents"
    url = f"{project}/agents/helper/versions?api-version=v1"
    rest = ["rest", "--resource", "https://ai.azure.com", "--url"]
    definition = {"kind": "prompt", "model": "ai-gateway/chat", "instructions": "Help.", "tools": []}
    body = {"definition": definition, "metadata": {"version": "1.0.0"}}
    assert az_ok(world, *rest, url, "--method", "post", "--body", json.dumps(body))["version"] == "1"
    for wrong in ("elsewhere/chat", "ai-gateway/embeddings", "ai-gateway/nowhere"):  # embeddings: no agent's
        refused = {**body, "definition": {**definition, "model": wrong}}
        answer = az(world, *rest, url, "--method", "post", "--body", json.dumps(refused))
        assert answer.returncode == 1 and "not found" in answer.stderr, (wrong, answer.stderr)
    store = ["--endpoint", stack["appConfigurationEndpoint"], "--auth-mode", "login", "--label", "prod"]
    az_ok(world, "appconfig", "kv", "set", *store, "--key", "almgen:agent:helper", "--value", "1", "--yes")
    agent = traffic_snapshot(world)["environments"]["prod"]["eastus2"]["agents"]["helper"]
    assert (agent["live"], agent["model"], agent["shares"]) == ("1", "ai-gateway/chat", {"chat-blue": 100})
    backend = f"{stack['gatewayId']}/backends/deployment-"
    services = [{"id": f"{backend}chat-blue", "weight": 75}, {"id": f"{backend}chat-green", "weight": 25}]
    patch = json.dumps({"properties": {"pool": {"services": services}}})
    az_ok(
        world,
        "rest",
        "--method",
        "patch",
        "--url",
        _pool_url(stack, "chat"),
        "--headers",
        "If-Match=*",
        "--body",
        patch,
    )
    region = traffic_snapshot(world)["environments"]["prod"]["eastus2"]
    assert region["agents"]["helper"]["shares"] == region["models"]["chat"]["shares"]
    assert region["agents"]["helper"]["shares"] == {"chat-blue": 75, "chat-green": 25}


def test_in_a_regional_outage_the_other_regions_deployment_answers(
    tmp_path: Path, generated: dict[str, Path]
) -> None:
    """Priority 2 answers only when this region is out; a pool naming a backend the gateway lacks,
    or another region's deployment at priority 1, is refused."""
    world = World.create(tmp_path / "w")
    az_ok(world, *LOGIN)
    east, sweden = deploy(world, generated["enterprise"], "prod")["stacks"]["value"]
    models = traffic_snapshot(world)["environments"]["prod"]
    assert models["eastus2"]["models"]["chat"]["answered"] == {"eastus2/chat-blue": 100}
    world.set_faults([{"kind": "outage", "env": "prod", "region": "eastus2"}])
    models = traffic_snapshot(world)["environments"]["prod"]
    assert models["eastus2"]["models"]["chat"]["answered"] == {"swedencentral/chat-blue": 100}
    assert models["swedencentral"]["models"]["chat"]["answered"] == {"swedencentral/chat-blue": 100}
    assert models["eastus2"]["models"]["chat"]["shares"] == {"chat-blue": 100}  # the routing is unchanged
    world.set_faults(
        [{"kind": "outage", "env": "prod", "region": region} for region in ("eastus2", "swedencentral")]
    )
    assert traffic_snapshot(world)["environments"]["prod"]["eastus2"]["models"]["chat"]["answered"] == {}
    url = _pool_url(east, "chat")
    for wrong in (
        {"id": f"{east['gatewayId']}/backends/remote-westus-chat-blue", "priority": 2, "weight": 100},
        {"id": f"{east['gatewayId']}/backends/remote-swedencentral-chat-blue", "priority": 1, "weight": 100},
        {"id": f"{sweden['gatewayId']}/backends/deployment-chat-blue", "priority": 1, "weight": 100},
    ):
        body = json.dumps({"properties": {"pool": {"services": [wrong]}}})
        refused = az(
            world, "rest", "--method", "patch", "--url", url, "--headers", "If-Match=*", "--body", body
        )
        assert refused.returncode == 1 and "ValidationError" in refused.stderr, wrong


def test_in_a_regional_outage_the_other_regions_online_endpoint_answers(tmp_path: Path) -> None:
    """A custom model behind the gateway: its own region's endpoint, else the other region's."""
    from tests.custom_gateway import custom_gateway_sample

    folder = custom_gateway_sample(tmp_path / "svc").parent
    subprocess.run(
        [sys.executable, "-m", "generator", "generate", str(folder / "almgen.yaml")],
        check=True,
        capture_output=True,
        cwd=folder,
    )
    world = World.create(tmp_path / "w")
    az_ok(world, *LOGIN)
    west, north = deploy(world, folder, "prod")["stacks"]["value"]
    name = {s["location"]: s["onlineEndpoints"][0]["name"] for s in (west, north)}
    fraud = {
        r: where["models"]["fraud"] for r, where in traffic_snapshot(world)["environments"]["prod"].items()
    }
    assert fraud["westeurope"]["answered"] == {f"westeurope/{name['westeurope']}": 100}
    assert fraud["westeurope"]["gateway"] and fraud["westeurope"]["kind"] == "custom"
    world.set_faults([{"kind": "outage", "env": "prod", "region": "westeurope"}])
    fraud = {
        r: where["models"]["fraud"] for r, where in traffic_snapshot(world)["environments"]["prod"].items()
    }
    assert fraud["westeurope"]["answered"] == {f"northeurope/{name['northeurope']}": 100}
    assert fraud["northeurope"]["answered"] == {f"northeurope/{name['northeurope']}": 100}
    world.set_faults([{"kind": "outage", "env": "prod", "region": r} for r in ("westeurope", "northeurope")])
    assert traffic_snapshot(world)["environments"]["prod"]["westeurope"]["models"]["fraud"]["answered"] == {}


def test_behind_the_gateway_a_key_alone_moves_no_traffic(world: World, generated: dict[str, Path]) -> None:
    """The pool serves: an App Configuration key the application might ignore changes nothing."""
    az_ok(world, *LOGIN)
    stack = deploy(world, generated["enterprise"], "prod")["stacks"]["value"][0]
    store = ["--endpoint", stack["appConfigurationEndpoint"], "--auth-mode", "login", "--label", "prod"]
    az_ok(
        world,
        "appconfig",
        "kv",
        "set",
        *store,
        "--key",
        "almgen:active:chat",
        "--value",
        "chat-green",
        "--yes",
    )
    models = traffic_snapshot(world)["environments"]["prod"]["eastus2"]["models"]
    assert models["chat"]["shares"] == {"chat-blue": 100}
    moved = [e for e in world.timeline() if e["kind"] == "azure-traffic" and e["shares"].get("chat-green")]
    assert moved == []


# ---- traffic and metrics -------------------------------------------------------------------------
def _advance(world: World, seconds: float) -> None:
    world.advance(seconds)


def _rollout(world: World, folder: Path, monkeypatch: pytest.MonkeyPatch, tmp: Path) -> int:
    az_ok(world, *LOGIN)
    outputs = tmp / "outputs.json"
    outputs.write_text(json.dumps(deploy(world, folder, "prod")), "utf-8")
    for key, value in world.environ().items():
        monkeypatch.setenv(key, value)
    return traffic.main(
        [
            "canary",
            "--outputs",
            str(outputs),
            "--env",
            "prod",
            "--model",
            "chat",
            "--kind",
            "foundation",
            "--to",
            "chat-green",
            "--steps",
            "10,50,100",
            "--bake-minutes",
            "10",
            "--error-rate-percent",
            "2",
            "--latency-p95-ms",
            "2000",
            "--min-requests",
            "100",
            "--wait-minutes",
            "10",
        ],
        sleep=lambda seconds: _advance(world, seconds),
    )


def test_canary_without_faults_goes_live(
    world: World, generated: dict[str, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert _rollout(world, generated["enterprise"], monkeypatch, tmp_path) == 0
    models = traffic_snapshot(world)["environments"]["prod"]["swedencentral"]["models"]
    assert models["chat"]["shares"] == {"chat-green": 100}


@pytest.mark.parametrize(("metric", "value"), [("error-rate", 8.0), ("latency-p95", 5000.0)])
def test_metric_fault_at_step_two_rolls_back(
    tmp_path: Path, generated: dict[str, Path], monkeypatch: pytest.MonkeyPatch, metric: str, value: float
) -> None:
    fault = {"kind": "metric", "env": "prod", "model": "chat", "metric": metric, "value": value, "step": 2}
    world = World.create(tmp_path / "w", faults=[fault])
    az_ok(world, *LOGIN)
    deploy(world, generated["enterprise"], "prod")
    before = traffic_snapshot(world)
    assert _rollout(world, generated["enterprise"], monkeypatch, tmp_path) == 1
    assert traffic_snapshot(world) == before
    shares = [
        e["shares"].get("chat-green", 0)
        for e in world.timeline()
        if e["kind"] == "azure-traffic" and e["model"] == "chat" and e["region"] == "eastus2"
    ]
    assert max(shares) == 50  # step 1 (10 %) was healthy, step 2 (50 %) breached
    CALLS.extend(json.loads(x)["argv"] for x in (world.root / "az-calls.jsonl").read_text().splitlines())


def test_traffic_state_reads_the_sim(world: World, generated: dict[str, Path], tmp_path: Path) -> None:
    az_ok(world, *LOGIN)
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps(deploy(world, generated["enterprise"], "prod")), "utf-8")
    done = subprocess.run(
        [
            sys.executable,
            str(REPO / "generator/runtime/traffic.py"),
            "state",
            "--outputs",
            str(outputs),
            "--env",
            "prod",
        ],
        capture_output=True,
        text=True,
        env=world.environ(),
        check=False,
    )
    assert done.returncode == 0, done.stderr
    state = json.loads(done.stdout)
    assert state["active"] == {"chat": "chat-blue", "embeddings": "embeddings-blue"}
    assert state["versions"]["chat-blue"] == "2024-11-20"


def _publish(world: World, folder: Path, model: str, *versions: str) -> None:
    """What dev's pipeline does first: its Bicep creates the registry, it publishes the versions."""
    deploy(world, folder, "dev", name="dev-1")
    for version in versions:
        az_ok(
            world,
            "ml",
            "model",
            "create",
            "--registry-name",
            "mlr-fraud-scoring",
            "--name",
            model,
            "--version",
            version,
            "--path",
            str(folder),
            "--type",
            "mlflow_model",
        )


def test_the_registry_holds_immutable_versions_and_deployments_serve_only_what_it_holds(
    tmp_path: Path, generated: dict[str, Path]
) -> None:
    folder = generated["custom-model-devops"]
    world = World.create(tmp_path / "w")
    az_ok(world, *LOGIN)
    registry = ("--registry-name", "mlr-fraud-scoring")
    assert az(world, "ml", "model", "show", "--name", "fraud", "--version", "1", *registry).returncode == 3
    first = deploy(world, folder, "prod")["stacks"]["value"][0]  # prod does not create the registry
    assert az(world, "ml", "model", "list", *registry).returncode == 3
    _publish(world, folder, "fraud", "1")
    shown = az_ok(world, "ml", "model", "show", "--name", "fraud", "--version", "1", *registry)
    assert shown["id"] == "azureml://registries/mlr-fraud-scoring/models/fraud/versions/1"
    again = az(world, "ml", "model", "create", *registry, "--name", "fraud", "--version", "1", "--path", ".")
    assert again.returncode == 1 and "already exists" in again.stderr  # versions are immutable
    job_output = (
        "azureml://subscriptions/s/resourceGroups/rg-fraud-scoring-dev/workspaces/mlw-fraud-scoring-dev/"
        "datastores/workspaceartifactstore/paths/ExperimentRun/dcid.job-9/model"
    )
    unknown = az(
        world, "ml", "model", "create", *registry, "--name", "fraud", "--version", "3", "--path", job_output
    )
    assert unknown.returncode == 1 and "job-9" in unknown.stderr
    live = {"ml": [{"model": "fraud", "colour": "blue", "version": "1", "live": True}]}
    deployed = deploy(world, folder, "prod", name="d2", live=json.dumps(live))["stacks"]["value"][0]
    state = json.loads(world.azure_file.read_text("utf-8"))
    ws = state["workspaces"][f"{first['resourceGroup']}/{deployed['workspaceName']}"]
    (endpoint,) = ws["endpoints"].values()
    assert endpoint["deployments"]["blue"]["model"] == shown["id"]
    missing = {"ml": [{"model": "fraud", "colour": "green", "version": "2", "live": False}]}
    done = az(
        world,
        "deployment",
        "sub",
        "create",
        "--name",
        "d3",
        "--location",
        "westeurope",
        "--template-file",
        str(folder / "infra/main.bicep"),
        "--parameters",
        str(folder / "infra/env/prod.bicepparam"),
        env={"ALMGEN_LIVE_STATE": json.dumps(missing)},
    )
    assert done.returncode == 1 and "not found in registry mlr-fraud-scoring" in done.stderr


def test_custom_model_canary_breach_restores_the_endpoint_traffic(
    tmp_path: Path, generated: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = generated["custom-model-devops"]
    world = World.create(tmp_path / "w")
    az_ok(world, *LOGIN)
    first = deploy(world, folder, "prod")["stacks"]["value"][0]
    model = first["onlineEndpoints"][0]["model"]
    _publish(world, folder, model, "1", "2")
    fault = {
        "kind": "metric",
        "env": "prod",
        "model": model,
        "metric": "error-rate",
        "value": 20.0,
        "step": 1,
    }
    (world.faults_file).write_text(json.dumps([fault]), "utf-8")
    live = {
        "ml": [
            {"model": e["model"], "colour": c, "version": v, "live": c == "blue"}
            for e in first["onlineEndpoints"]
            for c, v in (("blue", "1"), ("green", "2"))
        ]
    }
    outputs = deploy(world, folder, "prod", live=json.dumps(live))
    for stack in outputs["stacks"]["value"]:
        for endpoint in stack["onlineEndpoints"]:
            az_ok(
                world,
                "ml",
                "online-endpoint",
                "update",
                "--name",
                endpoint["name"],
                "-g",
                stack["resourceGroup"],
                "-w",
                stack["workspaceName"],
                "--traffic",
                "blue=100",
            )
    before = traffic_snapshot(world)
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(outputs), "utf-8")
    for key, value in world.environ().items():
        monkeypatch.setenv(key, value)
    code = traffic.main(
        [
            "canary",
            "--outputs",
            str(path),
            "--env",
            "prod",
            "--model",
            model,
            "--kind",
            "custom",
            "--to",
            "green",
            "--steps",
            "10,100",
            "--bake-minutes",
            "5",
            "--error-rate-percent",
            "5",
            "--min-requests",
            "100",
            "--wait-minutes",
            "5",
        ],
        sleep=lambda seconds: _advance(world, seconds),
    )
    assert code == 1
    after = traffic_snapshot(world)
    assert after == before
    region = next(iter(after["environments"]["prod"].values()))
    assert region["models"][model]["shares"] == {"blue": 100}
    CALLS.extend(json.loads(x)["argv"] for x in (world.root / "az-calls.jsonl").read_text().splitlines())


def test_state_after_deployment_not_found(world: World, tmp_path: Path) -> None:
    az_ok(world, *LOGIN)
    done = az(world, "deployment", "sub", "show", "--name", "first", "--query", "properties.outputs")
    assert done.returncode == 3 and "DeploymentNotFound" in done.stderr
    outputs = tmp_path / "outputs-before.json"
    outputs.write_text("{}\n", "utf-8")  # what the generated live-state step writes then
    state = subprocess.run(
        [
            sys.executable,
            str(REPO / "generator/runtime/traffic.py"),
            "state",
            "--outputs",
            str(outputs),
            "--env",
            "prod",
        ],
        capture_output=True,
        text=True,
        env=world.environ(),
        check=False,
    )
    assert state.returncode == 0, state.stderr


@pytest.mark.slow
def test_every_az_line_parses_with_the_real_cli() -> None:
    from tests.rehearse.azcli import rejected

    assert CALLS, "run with the other tests of this module"
    # the two lines test_unknown_command_and_flag sends on purpose are the only ones rejected
    assert {tuple(argv) for argv, _ in rejected(CALLS)} == {
        ("spring", "app", "list"),
        ("group", "show", "--name", "x", "--foo", "1"),
    }


def test_application_insights_takes_events_with_a_monitor_token_and_alerts_on_them(
    world: World, generated: dict[str, Path], tmp_path: Path
) -> None:
    from datetime import datetime, timezone

    from generator.rehearse.azure import insights

    az_ok(world, *LOGIN)
    stacks = deploy(world, generated["enterprise"], "prod")["stacks"]["value"]
    connection = dict(part.split("=", 1) for part in stacks[0]["appInsightsConnectionString"].split(";"))
    url = connection["IngestionEndpoint"] + "v2.1/track"
    body = tmp_path / "event.json"
    now = datetime.fromtimestamp(world.now(), timezone.utc)
    envelope = {
        "name": "Microsoft.ApplicationInsights.Event",
        "time": now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "iKey": connection["InstrumentationKey"],
        "data": {
            "baseType": "EventData",
            "baseData": {"ver": 2, "name": insights.EVENT, "properties": {"passed": "false"}},
        },
    }
    body.write_text(json.dumps(envelope), "utf-8")
    send = ["rest", "--method", "post", "--url", url, "--body", f"@{body}"]
    refused = az(world, *send, "--resource", "https://management.azure.com")
    assert refused.returncode == 1 and "wrong audience" in refused.stderr  # local auth is off
    assert az_ok(world, *send, "--resource", insights.RESOURCE)["itemsAccepted"] == 1
    group = stacks[0]["resourceGroup"]
    with locked(world.azure_file) as state:
        assert insights.alerts(state, group, now) == ["evaluation-breach"]
    body.write_text(json.dumps({**envelope, "iKey": "someone-else"}), "utf-8")
    assert az_ok(world, *send, "--resource", insights.RESOURCE)["itemsAccepted"] == 0


def test_training_data_is_deleted_once_and_a_kept_record_never(world: World) -> None:
    """The data clean-up's calls: a data asset's blob lists, deletes, then is gone (a second delete is
    refused, as Azure does); the asset itself still shows; a record under WORM cannot be deleted."""
    with locked(world.azure_file) as state:
        state["registries"]["mlr-x"] = {"name": "mlr-x", "models": {}}
        state.setdefault("storage", {})["strecx"] = {
            "name": "strecx",
            "group": "rg-x-prod",
            "containers": {"release-records": {"immutabilityDays": 30, "blobs": {"prod/r.json": {}}}},
        }
    az_ok(world, *LOGIN)
    shown = az_ok(world, "ml", "data", "show", "--name", "d", "--version", "3", "--registry-name", "mlr-x")
    account, _, name = shown["path"].removeprefix("https://").partition(".blob.core.windows.net/data/")
    where = ["--account-name", account, "--container-name", "data", "--auth-mode", "login"]
    (blob,) = az_ok(world, "storage", "blob", "list", *where, "--prefix", name)
    assert blob["name"] == name == "d/3/train.jsonl" and blob["properties"]["contentSettings"]["contentMd5"]
    assert az_ok(world, "storage", "blob", "list", *where, "--prefix", "d/4/train.jsonl")[0]["name"] != name
    assert az(world, "storage", "blob", "delete", *where, "--name", name).returncode == 0
    assert az_ok(world, "storage", "blob", "list", *where, "--prefix", name) == []
    again = az(world, "storage", "blob", "delete", *where, "--name", name)
    assert again.returncode != 0 and "BlobNotFound" in again.stderr
    sas = ["--permissions", "r", "--expiry", "2030-01-01T00:00Z", "--as-user", "--full-uri"]
    assert "BlobNotFound" in az(world, "storage", "blob", "generate-sas", *where, "--name", name, *sas).stderr
    assert az_ok(world, "ml", "data", "show", "--name", "d", "--version", "3", "--registry-name", "mlr-x")
    records = ["--account-name", "strecx", "--container-name", "release-records", "--auth-mode", "login"]
    kept = az(world, "storage", "blob", "delete", *records, "--name", "prod/r.json")
    assert kept.returncode != 0 and "BlobImmutableDueToPolicy" in kept.stderr
    missing = az(world, "storage", "blob", "delete", *records, "--name", "prod/none.json")
    assert missing.returncode != 0 and "BlobNotFound" in missing.stderr
