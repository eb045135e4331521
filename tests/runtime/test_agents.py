"""agents.py against a fake Agent Service and App Configuration (monkeypatched), and its `az rest`
layer against a fake CLI."""

from __future__ import annotations

import json
import stat
import sys
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from generator.runtime import agents, common, routing

FAKE_AZ = """\
import json, os, sys
args = sys.argv[1:]
body = args[args.index("--body") + 1] if "--body" in args else ""
sent = open(body[1:], encoding="utf-8").read() if body.startswith("@") else None
with open(os.environ["FAKE_AZ_LOG"], "a", encoding="utf-8") as handle:
    handle.write(json.dumps({"argv": args, "body": sent}) + "\\n")
answers = os.environ.get("FAKE_AZ_ANSWERS", "").split("|")
count = sum(1 for _ in open(os.environ["FAKE_AZ_LOG"], encoding="utf-8"))
answer = answers[min(count, len(answers)) - 1]
if answer.startswith("ERROR"):
    sys.stderr.write(answer + "\\n")
    sys.exit(1)
print(answer)
"""

RELEASE: dict[str, Any] = {
    "service": "support-agent",
    "environments": {
        "prod": {
            "models": [{"name": "chat", "kind": "foundation", "version": "2024-11-20", "model": "gpt-4o"}],
            "agents": [
                {
                    "name": "support",
                    "version": "2.1.0",
                    "model": "chat",
                    "instructions": "prompts/support.md",
                    "tools": ["azure_ai_search", "code_interpreter"],
                    "description": "Customer support",
                }
            ],
            "retrieval": {"alias": "support-kb", "agents": ["support"]},
        }
    },
    "retired": [],
}
STACKS = [
    {
        "location": "swedencentral",
        "resourceGroup": "rg-w",
        "primary": False,
        "aiServicesName": "ais-west",
        "appConfigurationEndpoint": "https://appcs-west.azconfig.io",
        "searchConnection": "/connections/search-west",
    },
    {
        "location": "eastus2",
        "resourceGroup": "rg-e",
        "primary": True,
        "aiServicesName": "ais-east",
        "appConfigurationEndpoint": "https://appcs-east.azconfig.io",
        "searchConnection": "/connections/search-east",
    },
]
INSTRUCTIONS = "You are the support agent.\n"
EAST = "https://ais-east.services.ai.azure.com/api/projects/agents"
WEST = "https://ais-west.services.ai.azure.com/api/projects/agents"
STORES = {"https://appcs-east.azconfig.io": EAST, "https://appcs-west.azconfig.io": WEST}


class FakeService:
    """The versioned agents of each project (keyed by its endpoint) and each region's App Configuration."""

    def __init__(self) -> None:
        self.versions: dict[str, list[dict[str, Any]]] = {EAST: [], WEST: []}  # support's, oldest first
        self.keys: dict[str, dict[tuple[str, str], str]] = {EAST: {}, WEST: {}}
        self.calls: list[tuple[str, str, dict[str, Any] | None]] = []
        self.page_size = 100

    def __call__(self, method: str, url: str, body: dict[str, Any] | None) -> Any:
        self.calls.append((method, url, body))
        parts = urlsplit(url)
        query = parse_qs(parts.query)
        assert query["api-version"] == ["v1"]
        base = f"{parts.scheme}://{parts.netloc}/api/projects/agents"
        path = parts.path.removeprefix("/api/projects/agents")
        items = self.versions[base]
        if method == "GET" and path == "/agents/support/versions":
            if not items:
                raise agents.HttpError(404, "not_found: agent support not found")
            newest = list(reversed(items))
            start = [v["id"] for v in newest].index(query["after"][0]) + 1 if "after" in query else 0
            page = newest[start : start + self.page_size]
            more = start + self.page_size < len(newest)
            return {"data": page, "has_more": more, "last_id": page[-1]["id"] if page else None}
        if method == "POST" and path == "/agents/support/versions":
            assert body is not None
            number = str(len(items) + 1)
            created: dict[str, Any] = {
                "object": "agent.version",
                "id": f"support:{number}",
                "name": "support",
            }
            created |= {"version": number, "created_at": 1_000 + len(items), **body}
            items.append(created)
            return created
        if method == "DELETE" and path.startswith("/agents/support/versions/"):
            number = path.rsplit("/", 1)[1]
            items[:] = [v for v in items if v["version"] != number]
            return {"deleted": True}
        raise AssertionError(f"unexpected {method} {url}")

    def az(self, args: list[str]) -> Any:
        """`az appconfig kv list|set|delete` of the stand-in routing.az."""
        flags = {args[i]: args[i + 1] for i in range(3, len(args) - 1) if args[i].startswith("--")}
        keys = self.keys[STORES[flags["--endpoint"]]]
        label = flags["--label"]
        if args[:3] == ["appconfig", "kv", "list"]:
            return [{"key": k, "label": lab, "value": v} for (k, lab), v in keys.items() if lab == label]
        if args[:3] == ["appconfig", "kv", "set"]:
            keys[(flags["--key"], label)] = flags["--value"]
            return {}
        if args[:3] == ["appconfig", "kv", "delete"]:
            keys.pop((flags["--key"], label), None)
            return []
        raise AssertionError(f"unexpected az {args}")

    def posts(self) -> list[tuple[str, str, dict[str, Any] | None]]:
        return [c for c in self.calls if c[0] == "POST"]

    def made(
        self, base: str, semver: str, model: str = "chat-blue", instructions: str = INSTRUCTIONS
    ) -> None:
        """A version made by an earlier release."""
        wanted = agents.definition_of(
            RELEASE["environments"]["prod"]["agents"][0],
            model,
            instructions,
            {
                "indexes": [
                    {
                        "project_connection_id": f"/connections/search-{'east' if base == EAST else 'west'}",
                        "index_name": "support-kb",
                    }
                ]
            },
        )
        self(
            "POST",
            f"{base}/agents/support/versions?api-version=v1",
            {"definition": wanted, "metadata": {"version": semver}},
        )


@pytest.fixture
def service(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeService:
    monkeypatch.setenv("GITHUB_SHA", "c0ffee")
    monkeypatch.delenv("ALMGEN_AGENTS_API_VERSION", raising=False)
    root = tmp_path / "repo"
    (root / ".almgen").mkdir(parents=True)
    (root / "prompts").mkdir()
    (root / "prompts/support.md").write_text(INSTRUCTIONS, "utf-8")
    (root / ".almgen/release.json").write_text(json.dumps(RELEASE), "utf-8")
    (root / "outputs.json").write_text(json.dumps({"stacks": {"type": "Array", "value": STACKS}}), "utf-8")
    monkeypatch.chdir(root)
    fake = FakeService()
    monkeypatch.setattr(agents, "http", fake)
    monkeypatch.setattr(routing, "az", fake.az)
    for base in (EAST, WEST):
        fake.keys[base][("almgen:active:chat", "prod")] = "chat-blue"
    return fake


def candidate(*extra: str) -> int:
    return agents.main(
        ["candidate", "--env", "prod", "--outputs", "outputs.json", "--out", "candidate.json", *extra]
    )


def summary() -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = json.loads(Path("candidate.json").read_text("utf-8"))
    return items


def live(*extra: str) -> int:
    args = ["live", "--env", "prod", "--outputs", "outputs.json", "--candidate", "candidate.json"]
    return agents.main([*args, "--save-previous", "previous.json", "--out", "live.json", *extra])


def test_a_first_release_creates_a_version_in_every_region_and_makes_nothing_live(
    service: FakeService,
) -> None:
    assert candidate() == 0
    posts = service.posts()
    assert [url.partition("/agents/support")[0] for _, url, _ in posts] == [EAST, WEST]  # primary first
    _, url, body = posts[0]
    assert url == f"{EAST}/agents/support/versions?api-version=v1"
    assert body == {
        "definition": {
            "kind": "prompt",
            "model": "chat-blue",
            "instructions": INSTRUCTIONS,
            "tools": [
                {
                    "type": "azure_ai_search",
                    "azure_ai_search": {
                        "indexes": [
                            {"project_connection_id": "/connections/search-east", "index_name": "support-kb"}
                        ]
                    },
                },
                {"type": "code_interpreter", "container": {"type": "auto"}},
            ],
        },
        "description": "Customer support",
        "metadata": {
            "version": "2.1.0",
            "service": "support-agent",
            "environment": "prod",
            "gitCommit": "c0ffee",
        },
    }
    assert [(s["region"], s["version"], s["action"], s["live"]) for s in summary()] == [
        ("eastus2", "1", "created", ""),
        ("swedencentral", "1", "created", ""),
    ]
    assert not any(k for keys in service.keys.values() for k, _ in keys if k.startswith("almgen:agent:"))


def test_the_same_release_again_reuses_its_version(service: FakeService) -> None:
    service.made(EAST, "2.1.0")
    service.made(WEST, "2.1.0")
    calls = len(service.posts())
    assert candidate() == 0
    assert len(service.posts()) == calls  # nothing created
    assert {(s["version"], s["action"]) for s in summary()} == {("1", "reused")}


@pytest.mark.parametrize(
    ("semver", "model", "instructions"),
    [
        ("2.0.0", "chat-blue", INSTRUCTIONS),  # another release's version
        ("2.1.0", "chat-green", INSTRUCTIONS),  # bound to another deployment
        ("2.1.0", "chat-blue", "Other instructions.\n"),  # other instructions under the same semver
    ],
)
def test_a_different_definition_or_semver_makes_a_new_version(
    service: FakeService, semver: str, model: str, instructions: str
) -> None:
    service.made(EAST, semver, model, instructions)
    service.made(WEST, semver, model, instructions)
    assert candidate() == 0
    assert {(s["version"], s["action"]) for s in summary()} == {("2", "created")}


def test_a_revert_reuses_the_earlier_definitions_version_not_the_newest(service: FakeService) -> None:
    for base in (EAST, WEST):
        service.made(base, "2.1.0")  # version 1: what the revert goes back to
        service.made(base, "2.2.0", instructions="A bad prompt.\n")  # version 2: the reverted release
        service.keys[base][("almgen:agent:support", "prod")] = "2"
    calls = len(service.posts())
    assert candidate() == 0
    assert len(service.posts()) == calls
    assert {(s["version"], s["action"], s["live"]) for s in summary()} == {("1", "reused", "2")}


def test_a_blue_green_candidate_binds_the_candidate_colour(service: FakeService) -> None:
    state = {"active": {"chat": "chat-blue"}, "versions": {"chat-blue": "2024-08-06"}}
    Path("state.json").write_text(json.dumps(state), "utf-8")
    assert candidate("--target", "candidate", "--state", "state.json") == 0
    assert {s["model"] for s in summary()} == {"chat-green"}  # the colour the swap makes live


def through_gateway(service: FakeService) -> None:
    """The outputs name each region's project connection to the AI gateway (gateway.bicep)."""
    stacks = [{**stack, "agentsConnection": "ai-gateway"} for stack in STACKS]
    Path("outputs.json").write_text(json.dumps({"stacks": {"type": "Array", "value": stacks}}), "utf-8")


def test_with_the_gateway_the_live_version_binds_the_models_api_not_a_colour(service: FakeService) -> None:
    through_gateway(service)
    assert candidate() == 0
    assert [(s["region"], s["model"], s["action"]) for s in summary()] == [
        ("eastus2", "ai-gateway/chat", "created"),
        ("swedencentral", "ai-gateway/chat", "created"),
    ]
    (_, _, body), *_ = service.posts()
    assert body is not None and body["definition"]["model"] == "ai-gateway/chat"


def test_with_the_gateway_a_colour_change_is_no_new_definition(service: FakeService) -> None:
    """The gateway's pool moves traffic (canary steps, a swap): the binding, so the version, stays."""
    through_gateway(service)
    assert candidate() == 0
    for base in (EAST, WEST):  # a swap: another colour serves; the pool follows, not the agent
        service.keys[base][("almgen:active:chat", "prod")] = "chat-green"
    calls = len(service.posts())
    assert candidate() == 0
    assert len(service.posts()) == calls
    assert {(s["version"], s["action"], s["model"]) for s in summary()} == {
        ("1", "reused", "ai-gateway/chat")
    }


def test_moving_to_the_gateway_is_a_new_definition_once(service: FakeService) -> None:
    service.made(EAST, "2.1.0")  # bound to chat-blue before the gateway
    service.made(WEST, "2.1.0")
    through_gateway(service)
    assert candidate() == 0
    assert {(s["version"], s["action"]) for s in summary()} == {("2", "created")}
    assert candidate() == 0
    assert {(s["version"], s["action"]) for s in summary()} == {("2", "reused")}


def test_with_the_gateway_a_blue_green_candidate_still_binds_its_colour(service: FakeService) -> None:
    """The pool reaches the candidate colour only at the swap: the tests call the colour itself."""
    through_gateway(service)
    state = {"active": {"chat": "chat-blue"}, "versions": {"chat-blue": "2024-08-06"}}
    Path("state.json").write_text(json.dumps(state), "utf-8")
    assert candidate("--target", "candidate", "--state", "state.json") == 0
    assert {s["model"] for s in summary()} == {"chat-green"}


def test_a_custom_model_is_not_bound_through_the_gateway(service: FakeService) -> None:
    """The gateway fronts foundation models only: a custom model keeps its serving deployment."""
    through_gateway(service)
    release = json.loads(Path(".almgen/release.json").read_text("utf-8"))
    release["environments"]["prod"]["models"][0]["kind"] = "custom"
    Path(".almgen/release.json").write_text(json.dumps(release), "utf-8")
    assert candidate() == 0
    assert {s["model"] for s in summary()} == {"chat-blue"}


def test_live_switches_every_region_and_restore_puts_the_previous_versions_back(
    service: FakeService,
) -> None:
    for base in (EAST, WEST):
        service.made(base, "2.0.0")
    service.keys[EAST][("almgen:agent:support", "prod")] = "1"  # west had none live
    assert candidate() == 0
    assert live() == 0
    assert service.keys[EAST][("almgen:agent:support", "prod")] == "2"
    assert service.keys[WEST][("almgen:agent:support", "prod")] == "2"
    previous = json.loads(Path("previous.json").read_text("utf-8"))
    assert previous["regions"][0] == {
        "location": "eastus2",
        "resourceGroup": "rg-e",
        "agents": {"support": "1"},
    }
    assert agents.main(["restore", "--outputs", "outputs.json", "--previous", "previous.json"]) == 0
    assert service.keys[EAST][("almgen:agent:support", "prod")] == "1"
    assert ("almgen:agent:support", "prod") not in service.keys[WEST]  # nothing was live there


def test_restore_leaves_a_region_the_switch_never_reached_as_it_was(
    service: FakeService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The live switch failed in the second region: only the first is put back, nothing else is written."""
    for base in (EAST, WEST):
        service.made(base, "2.0.0")
        service.keys[base][("almgen:agent:support", "prod")] = "1"
    assert candidate() == 0
    previous = {
        "env": "prod",
        "regions": [
            {"location": "eastus2", "resourceGroup": "rg-e", "agents": {"support": "1"}},
            {"location": "swedencentral", "resourceGroup": "rg-w", "agents": {"support": "1"}},
        ],
    }
    Path("previous.json").write_text(json.dumps(previous), "utf-8")
    service.keys[EAST][("almgen:agent:support", "prod")] = "2"  # switched; west was refused
    writes: list[list[str]] = []

    def recorded(args: list[str]) -> Any:
        writes.append(args)
        return service.az(args)

    monkeypatch.setattr(routing, "az", recorded)
    assert agents.main(["restore", "--outputs", "outputs.json", "--previous", "previous.json"]) == 0
    assert service.keys[EAST][("almgen:agent:support", "prod")] == "1"
    assert service.keys[WEST][("almgen:agent:support", "prod")] == "1"
    assert [w[w.index("--endpoint") + 1] for w in writes if w[2] == "set"] == [
        "https://appcs-east.azconfig.io"
    ]


def test_versions_are_read_newest_first_across_pages(service: FakeService) -> None:
    for _ in range(5):
        service.made(EAST, "2.0.0")
    service.page_size = 2
    assert [v["version"] for v in agents.list_versions(EAST, "support")] == ["5", "4", "3", "2", "1"]
    assert agents.list_versions(WEST, "support") == []  # no such agent yet: a 404


def test_file_search_without_a_vector_store_is_usage(
    service: FakeService, capsys: pytest.CaptureFixture[str]
) -> None:
    release = json.loads(Path(".almgen/release.json").read_text("utf-8"))
    release["environments"]["prod"]["agents"][0]["tools"] = ["file_search"]
    Path(".almgen/release.json").write_text(json.dumps(release), "utf-8")
    assert candidate() == 2
    assert "vector store" in capsys.readouterr().err
    assert service.posts() == []


def test_http_errors_are_exit_1(service: FakeService, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(method: str, url: str, body: dict[str, Any] | None) -> Any:
        if method == "POST":
            raise agents.HttpError(403, "PermissionDenied: no")
        return service(method, url, body)

    monkeypatch.setattr(agents, "http", refuse)
    assert candidate() == 1


def test_missing_instructions_file_is_usage(service: FakeService, capsys: pytest.CaptureFixture[str]) -> None:
    Path("prompts/support.md").unlink()
    assert candidate() == 2
    assert "cannot read instructions prompts/support.md of support" in capsys.readouterr().err


# ---- the HTTP layer: `az rest`, against a fake CLI


@pytest.fixture
def fake_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    script = tmp_path / "fake_az.py"
    script.write_text(f"#!{sys.executable}\n{FAKE_AZ}", "utf-8")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("ALMGEN_AZ", str(script))
    monkeypatch.setenv("FAKE_AZ_LOG", str(tmp_path / "az.log"))
    monkeypatch.setattr(common, "sleep", lambda seconds: None)
    return tmp_path / "az.log"


def _logged(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text("utf-8").splitlines()]


def test_http_goes_through_az_rest_with_the_body_in_a_file(
    fake_cli: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_AZ_ANSWERS", '{"id": "asst_1"}')
    answer = agents.http(
        "POST", f"{EAST}/agents/support/versions?api-version=v1", {"instructions": "x" * 200_000}
    )
    assert answer == {"id": "asst_1"}
    (call,) = _logged(fake_cli)
    argv = call["argv"]
    assert argv[:6] == [
        "rest",
        "--method",
        "post",
        "--url",
        f"{EAST}/agents/support/versions?api-version=v1",
        "--resource",
    ]
    assert argv[6] == "https://ai.azure.com" and argv[-2:] == ["--output", "json"]
    assert json.loads(call["body"]) == {"instructions": "x" * 200_000}  # past a command line's limit


def test_throttling_is_retried_then_answered(fake_cli: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    throttled = 'ERROR: Too Many Requests({"error": {"code": "429"}})'
    monkeypatch.setenv("FAKE_AZ_ANSWERS", f'{throttled}|{{"data": []}}')
    assert agents.http("GET", f"{EAST}/agents/support/versions", None) == {"data": []}
    assert len(_logged(fake_cli)) == 2


@pytest.mark.parametrize(
    ("line", "status", "message"),
    [
        (
            'ERROR: Not Found({"error": {"code": "not_found", "message": "no agent"}})',
            404,
            "not_found: no agent",
        ),
        ("ERROR: Forbidden(no role)", 403, "no role"),
        ("ERROR: Please run 'az login'.", None, "Please run 'az login'."),  # no status: not an HTTP answer
    ],
)
def test_az_rest_errors_name_the_status(line: str, status: int | None, message: str) -> None:
    assert agents.rest_error(line) == (status, message)


def test_a_refusal_raises_with_status_and_reason(fake_cli: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "FAKE_AZ_ANSWERS", 'ERROR: Forbidden({"error": {"code": "PermissionDenied", "message": "no"}})'
    )
    with pytest.raises(agents.HttpError) as raised:
        agents.http("GET", f"{EAST}/agents/support/versions", None)
    assert raised.value.status == 403 and "PermissionDenied: no" in str(raised.value)
