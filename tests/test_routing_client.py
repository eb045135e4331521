"""The routing helper a service imports when no AI gateway moves its traffic (gateway.type none)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from generator.client.almgen_routing import Router, routes
from generator.render.all import render
from generator.spec.validate import load_spec
from tests.conftest import SAMPLES


def _keys(active: str, canary: str = "", percent: int = 0) -> dict[str, str]:
    return {
        "almgen:active:chat": active,
        "almgen:canary:chat": json.dumps({"deployment": canary, "percent": percent}),
        "almgen:endpoints:aiServices": "https://x",
    }


def test_the_canary_gets_its_share_and_the_active_deployment_the_rest() -> None:
    draws = iter([0.0, 24.9, 25.0, 99.9])
    router = Router(lambda: _keys("chat-blue", "chat-green", 25), draw=lambda: next(draws))
    picked = [router.deployment("chat") for _ in range(4)]
    assert picked == ["chat-green", "chat-green", "chat-blue", "chat-blue"]


def test_a_step_or_a_rollback_reaches_the_service_after_the_refresh() -> None:
    now, values = [0.0], [_keys("chat-blue", "chat-green", 100)]
    router = Router(lambda: values[-1], refresh_seconds=30, clock=lambda: now[0], draw=lambda: 50.0)
    assert router.deployment("chat") == "chat-green"
    values.append(_keys("chat-blue"))  # the pipeline rolled back
    now[0] = 29.0
    assert router.deployment("chat") == "chat-green"  # read at most every 30 s
    now[0] = 30.0
    assert router.deployment("chat") == "chat-blue"


def test_an_unreadable_store_keeps_the_last_routing_and_fails_before_any() -> None:
    now, calls = [0.0], []

    def fetch() -> dict[str, str]:
        calls.append(now[0])
        if len(calls) > 1:
            raise OSError("App Configuration unreachable")
        return _keys("chat-blue")

    router = Router(fetch, clock=lambda: now[0])
    assert router.deployment("chat") == "chat-blue"
    now[0] = 60.0
    assert router.deployment("chat") == "chat-blue" and len(calls) == 2
    assert router.deployment("chat") == "chat-blue" and len(calls) == 2  # not retried before the refresh
    with pytest.raises(OSError):
        Router(lambda: (_ for _ in ()).throw(OSError("down"))).deployment("chat")
    with pytest.raises(LookupError, match="almgen:active:other"):
        router.deployment("other")


def test_a_malformed_canary_is_ignored_and_percentages_are_bounded() -> None:
    assert routes({"almgen:active:chat": "a", "almgen:canary:chat": "not json"})["chat"].pick(0) == "a"
    assert routes(_keys("a", "b", 250))["chat"].pick(99.9) == "b"


def test_the_live_agent_version_comes_from_its_key_and_a_rollback_reaches_the_service() -> None:
    now, values = [0.0], [{**_keys("chat-blue"), "almgen:agent:support": "7", "almgen:agent:empty": ""}]
    router = Router(lambda: values[-1], refresh_seconds=30, clock=lambda: now[0])
    assert router.agent_version("support") == "7"
    assert router.deployment("chat") == "chat-blue"  # one read serves both
    values.append({**_keys("chat-blue"), "almgen:agent:support": "6"})  # the pipeline restored 6
    now[0] = 29.0
    assert router.agent_version("support") == "7"
    now[0] = 30.0
    assert router.agent_version("support") == "6"
    with pytest.raises(LookupError, match="almgen:agent:empty"):
        router.agent_version("empty")  # an empty pointer is no live version: never the service's latest
    with pytest.raises(LookupError, match="almgen:agent:chat"):
        router.agent_version("chat")  # a model's routing is not an agent


def test_an_agents_only_store_has_versions_and_no_model_routes() -> None:
    router = Router(lambda: {"almgen:agent:support": "3"})
    assert router.agent_version("support") == "3"
    with pytest.raises(LookupError, match="almgen:active:chat"):
        router.deployment("chat")
    with pytest.raises(OSError):
        Router(lambda: (_ for _ in ()).throw(OSError("down"))).agent_version("support")


def test_the_helper_is_generated_for_a_spec_with_agents_behind_a_gateway() -> None:
    spec = load_spec(SAMPLES / "enterprise" / "almgen.yaml")
    assert spec.agents and spec.gateway.enabled
    assert ".almgen/client/almgen_routing.py" in {f.path for f in render(spec)}


@pytest.mark.parametrize(("gateway", "generated"), [("none", True), ("apim", False)])
def test_the_helper_is_generated_only_when_the_service_routes_itself(
    gateway: str, generated: bool, tmp_path: Path
) -> None:
    import shutil

    shutil.copytree(SAMPLES / "openai-chat-github", tmp_path / "svc")
    spec = tmp_path / "svc" / "almgen.yaml"
    text = spec.read_text("utf-8")  # staging's A/B test needs the gateway: a blue-green instead
    ab = text[text.index("    # A/B test") : text.index("    tests: [smoke, integration, load]")]
    text = text.replace(ab, "    strategy: {type: blue-green}\n")
    spec.write_text(text + f"gateway: {{type: {gateway}}}\n", "utf-8")
    paths = {f.path for f in render(load_spec(spec))}
    assert (".almgen/client/almgen_routing.py" in paths) is generated
