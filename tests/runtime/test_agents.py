"""agents.py against a fake Agent Service (HTTP monkeypatched), and its `az rest` layer against a fake CLI."""

from __future__ import annotations

import json
import stat
import sys
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from generator.runtime import agents, common

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
    "specSha256": "ab" * 32,
    "generator": "almgen 0.1.0",
    "environments": {
        "prod": {
            "models": [{"name": "chat", "kind": "foundation", "version": "2024-11-20", "model": "gpt-4o"}],
            "agents": [
                {
                    "name": "support",
                    "version": "2.1.0",
                    "model": "chat",
                    "instructions": "prompts/support.md",
                    "tools": ["file_search", "code_interpreter"],
                    "description": "Customer support",
                }
            ],
        }
    },
    "retired": [],
}
STACKS = [
    {"location": "swedencentral", "resourceGroup": "rg-w", "primary": False, "aiServicesName": "ais-west"},
    {"location": "eastus2", "resourceGroup": "rg-e", "primary": True, "aiServicesName": "ais-east"},
]
INSTRUCTIONS = "You are the support agent.\n"
EAST = "https://ais-east.services.ai.azure.com/api/projects/agents"
WEST = "https://ais-west.services.ai.azure.com/api/projects/agents"


class FakeService:
    """The Assistants-style REST surface of each project, keyed by project endpoint."""

    def __init__(self) -> None:
        self.agents: dict[str, list[dict[str, Any]]] = {EAST: [], WEST: []}
        self.calls: list[tuple[str, str, dict[str, Any] | None]] = []
        self.page_size = 100

    def __call__(self, method: str, url: str, body: dict[str, Any] | None) -> Any:
        self.calls.append((method, url, body))
        parts = urlsplit(url)
        query = parse_qs(parts.query)
        base = f"{parts.scheme}://{parts.netloc}/api/projects/agents"
        path = parts.path.removeprefix("/api/projects/agents")
        items = self.agents[base]
        if method == "GET" and path == "/assistants":
            start = 0
            if "after" in query:
                start = [a["id"] for a in items].index(query["after"][0]) + 1
            page = items[start : start + self.page_size]
            more = start + self.page_size < len(items)
            return {"data": page, "has_more": more, "last_id": page[-1]["id"] if page else None}
        if method == "POST" and path == "/assistants":
            assert body is not None
            created = {"id": f"asst_{len(items) + 1}", "object": "assistant", **body}
            items.append(created)
            return created
        if method == "POST" and path.startswith("/assistants/"):
            assert body is not None
            agent = next(a for a in items if a["id"] == path.rsplit("/", 1)[1])
            agent.update(body)
            return agent
        raise AssertionError(f"unexpected {method} {url}")

    def posts(self) -> list[tuple[str, str, dict[str, Any] | None]]:
        return [c for c in self.calls if c[0] == "POST"]


def existing(
    version: str, model: str = "chat-blue", instructions: str = INSTRUCTIONS, **extra: Any
) -> dict[str, Any]:
    return {
        "id": "asst_9",
        "name": "support",
        "model": model,
        "instructions": instructions,
        "tools": [
            {"type": "file_search", "file_search": {"ranking_options": {}}},
            {"type": "code_interpreter"},
        ],
        "metadata": {"version": version, "owner": "team-a"},
        **extra,
    }


@pytest.fixture
def service(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeService:
    script = tmp_path / "fake_az.py"
    script.write_text(f"#!{sys.executable}\n{FAKE_AZ}", "utf-8")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("ALMGEN_AZ", str(script))
    monkeypatch.setenv("FAKE_AZ_LOG", str(tmp_path / "az.log"))
    monkeypatch.setenv("GITHUB_SHA", "c0ffee")
    monkeypatch.delenv("ALMGEN_AGENTS_API_VERSION", raising=False)
    root = tmp_path / "repo"
    (root / ".almgen").mkdir(parents=True)
    (root / "prompts").mkdir()
    (root / "prompts/support.md").write_text(INSTRUCTIONS, "utf-8")
    (root / ".almgen/release.json").write_text(json.dumps(RELEASE), "utf-8")
    (root / "outputs.json").write_text(json.dumps({"stacks": {"type": "Array", "value": STACKS}}), "utf-8")
    (root / "live.json").write_text(json.dumps({"active": {"chat": "chat-blue"}}), "utf-8")
    monkeypatch.chdir(root)
    fake = FakeService()
    monkeypatch.setattr(agents, "http", fake)
    return fake


def deploy(*extra: str) -> int:
    return agents.main(
        ["deploy", "--env", "prod", "--outputs", "outputs.json", "--live-state", "live.json", *extra]
    )


def test_creates_in_every_region_primary_first(
    service: FakeService, capsys: pytest.CaptureFixture[str]
) -> None:
    assert deploy("--out", "agents.json") == 0
    posts = service.posts()
    assert [urlsplit(url).netloc for _, url, _ in posts] == [
        "ais-east.services.ai.azure.com",
        "ais-west.services.ai.azure.com",
    ]
    _, url, body = posts[0]
    assert url == f"{EAST}/assistants?api-version=v1"
    assert body == {
        "name": "support",
        "model": "chat-blue",
        "instructions": INSTRUCTIONS,
        "tools": [{"type": "file_search"}, {"type": "code_interpreter"}],
        "description": "Customer support",
        "metadata": {
            "version": "2.1.0",
            "service": "support-agent",
            "environment": "prod",
            "gitCommit": "c0ffee",
        },
    }
    assert "created support 2.1.0 in eastus2" in capsys.readouterr().out
    summary = json.loads(Path("agents.json").read_text("utf-8"))
    assert [(s["region"], s["action"]) for s in summary] == [
        ("eastus2", "created"),
        ("swedencentral", "created"),
    ]


def test_without_live_state_the_model_name_is_the_deployment(service: FakeService) -> None:
    assert agents.main(["deploy", "--env", "prod", "--outputs", "outputs.json"]) == 0
    assert all(body and body["model"] == "chat" for _, _, body in service.posts())


def test_updates_an_older_version_and_keeps_other_metadata(
    service: FakeService, capsys: pytest.CaptureFixture[str]
) -> None:
    service.agents[EAST] = [existing("2.0.0")]
    service.agents[WEST] = [existing("2.1.0")]
    assert deploy() == 0
    posts = service.posts()
    assert [url for _, url, _ in posts] == [f"{EAST}/assistants/asst_9?api-version=v1"]
    body = posts[0][2]
    assert (
        body is not None and body["metadata"]["version"] == "2.1.0" and body["metadata"]["owner"] == "team-a"
    )
    out = capsys.readouterr().out
    assert "updated support 2.1.0 in eastus2" in out and "unchanged support 2.1.0 in swedencentral" in out


def test_same_version_with_another_model_deployment_is_updated(service: FakeService) -> None:
    service.agents[EAST] = [existing("2.1.0", model="chat-green")]
    service.agents[WEST] = [existing("2.1.0")]
    assert deploy() == 0
    assert [url for _, url, _ in service.posts()] == [f"{EAST}/assistants/asst_9?api-version=v1"]


def test_unchanged_when_everything_matches(service: FakeService, capsys: pytest.CaptureFixture[str]) -> None:
    service.agents[EAST] = [existing("2.1.0")]
    service.agents[WEST] = [existing("2.1.0")]
    assert deploy() == 0
    assert service.posts() == []
    assert capsys.readouterr().out.count("unchanged support 2.1.0") == 2


def test_changed_instructions_without_a_bump_update_with_a_warning(
    service: FakeService, capsys: pytest.CaptureFixture[str]
) -> None:
    service.agents[EAST] = [existing("2.1.0", instructions="old")]
    service.agents[WEST] = [existing("2.1.0")]
    assert deploy() == 0
    assert len(service.posts()) == 1
    assert "did not (bump it" in capsys.readouterr().err


def test_a_downgrade_is_refused_and_nothing_changes(
    service: FakeService, capsys: pytest.CaptureFixture[str]
) -> None:
    service.agents[WEST] = [existing("2.10.0")]  # semver, not text: 2.10.0 > 2.1.0
    assert deploy() == 1
    assert service.posts() == []  # not even the primary, which had no agent yet
    err = capsys.readouterr().err
    assert "support is at 2.10.0 in swedencentral" in err and "Traceback" not in err


def test_pages_are_followed(service: FakeService) -> None:
    others = [{"id": f"asst_o{i}", "name": f"other-{i}", "metadata": {}} for i in range(3)]
    service.agents[EAST] = [*others, existing("2.1.0")]
    service.agents[WEST] = [existing("2.1.0")]
    service.page_size = 2
    assert deploy() == 0
    assert service.posts() == []
    gets = [url for method, url, _ in service.calls if method == "GET" and url.startswith(EAST)]
    assert len(gets) == 2 and "after=asst_o1" in gets[1]


def test_api_version_can_be_overridden(service: FakeService, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALMGEN_AGENTS_API_VERSION", "2025-05-15-preview")
    assert deploy() == 0
    assert all("api-version=2025-05-15-preview" in url for _, url, _ in service.calls)


def test_http_errors_are_exit_1(service: FakeService, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(method: str, url: str, body: dict[str, Any] | None) -> Any:
        raise agents.HttpError(403, "PermissionDenied: no access")

    monkeypatch.setattr(agents, "http", refuse)
    assert deploy() == 1


def test_missing_instructions_file_is_usage(service: FakeService, capsys: pytest.CaptureFixture[str]) -> None:
    Path("prompts/support.md").unlink()
    assert deploy() == 2
    assert service.calls == [] and capsys.readouterr().err.count("\n") == 1


@pytest.mark.parametrize(
    ("higher", "lower"),
    [("2.1.0", "2.0.9"), ("10.0.0", "9.9.9"), ("1.0.0", "1.0.0-rc.1"), ("1.0.0-beta", "1.0.0-alpha.1"),
     ("1.0.0-alpha.1", "1.0.0-alpha"), ("1.0.0-alpha.10", "1.0.0-alpha.2"), ("1.0.0-a", "1.0.0-9")],
)  # fmt: skip
def test_semver_order(higher: str, lower: str) -> None:
    assert agents.newer(higher, lower) and not agents.newer(lower, higher)
    assert not agents.newer("1.0.0+build.5", "1.0.0")


def test_not_semver_is_none() -> None:
    assert agents.semver("v1.0") is None and agents.semver("1.0") is None and agents.semver(None) is None


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
    answer = agents.http("POST", f"{EAST}/assistants?api-version=v1", {"instructions": "x" * 200_000})
    assert answer == {"id": "asst_1"}
    (call,) = _logged(fake_cli)
    argv = call["argv"]
    assert argv[:6] == [
        "rest",
        "--method",
        "post",
        "--url",
        f"{EAST}/assistants?api-version=v1",
        "--resource",
    ]
    assert argv[6] == "https://ai.azure.com" and argv[-2:] == ["--output", "json"]
    assert json.loads(call["body"]) == {"instructions": "x" * 200_000}  # past a command line's limit


def test_throttling_is_retried_then_answered(fake_cli: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    throttled = 'ERROR: Too Many Requests({"error": {"code": "429"}})'
    monkeypatch.setenv("FAKE_AZ_ANSWERS", f'{throttled}|{{"data": []}}')
    assert agents.http("GET", f"{EAST}/assistants", None) == {"data": []}
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
        agents.http("GET", f"{EAST}/assistants", None)
    assert raised.value.status == 403 and "PermissionDenied: no" in str(raised.value)
