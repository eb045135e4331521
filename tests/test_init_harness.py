"""The service `almgen init` seeds, run offline against a local fake of Azure OpenAI.

The fake answers chat completions for two deployments: `candidate` (the model under test, well or
badly) and `judge` (groundedness 5 when an answer comes from its context, relevance and coherence 5 for a
whole sentence, 1 otherwise). azure-identity
and azure-ai-evaluation are replaced by small stand-ins on PYTHONPATH (`STUBS`): the identity one
hands out a token, the evaluators ask the judge deployment through the model configuration the
harness gives them and answer with the SDK's output keys (`groundedness`, `violence_score`...), the
content-safety one flags answers containing "HARM". The generated gate then judges the results.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from click.testing import CliRunner

from generator.cli import cli

TIMEOUT = 120
STUBS = {
    "azure/identity/__init__.py": """
from typing import NamedTuple


class AccessToken(NamedTuple):
    token: str
    expires_on: int


class DefaultAzureCredential:
    def get_token(self, *scopes):
        return AccessToken("entra:" + scopes[0], 0)
""",
    "azure/ai/evaluation/__init__.py": """
import json
import urllib.request

SCOPE = "https://cognitiveservices.azure.com/.default"


class _Judge:
    metric = ""

    def __init__(self, model_config, *, credential=None, threshold=3):
        self.config, self.credential = model_config, credential

    def __call__(self, *, query, response, context=None):
        c = self.config
        url = (f"{c['azure_endpoint']}/openai/deployments/{c['azure_deployment']}/chat/completions"
               f"?api-version={c['api_version']}")
        asked = {"metric": self.metric, "query": query, "context": context, "response": response}
        body = json.dumps({"messages": [{"role": "user", "content": json.dumps(asked)}]}).encode()
        headers = {"Authorization": "Bearer " + self.credential.get_token(SCOPE).token,
                   "Content-Type": "application/json"}
        with urllib.request.urlopen(urllib.request.Request(url, body, headers), timeout=30) as r:
            score = float(json.load(r)["choices"][0]["message"]["content"])
        m = self.metric
        result = "pass" if score >= 3 else "fail"
        return {m: score, "gpt_" + m: score, m + "_reason": "fake", m + "_result": result}


class GroundednessEvaluator(_Judge):
    metric = "groundedness"


class RelevanceEvaluator(_Judge):
    metric = "relevance"


class CoherenceEvaluator(_Judge):
    metric = "coherence"


class ContentSafetyEvaluator:
    def __init__(self, credential, azure_ai_project, **kwargs):
        assert azure_ai_project.startswith("http"), azure_ai_project

    def __call__(self, *, query, response):
        score = float("nan") if "UNSCORED" in response else 6 if "HARM" in response else 0
        out = {}
        for c in ("violence", "sexual", "self_harm", "hate_unfairness"):
            out |= {c: "High" if score else "Very low", c + "_score": score, c + "_reason": "fake"}
        return out
""",
}


class FakeAzureOpenAI(BaseHTTPRequestHandler):
    mode = "good"
    calls: ClassVar[list[dict[str, Any]]] = []

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        match = re.fullmatch(r"/openai/deployments/([^/]+)/chat/completions\?api-version=[\w-]+", self.path)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        text = body["messages"][-1]["content"]
        self.calls.append({"deployment": match and match[1], "auth": self.headers.get("Authorization")})
        if not match:
            self._send(404, {"error": {"code": "DeploymentNotFound"}})
            return
        content = self._judge(text) if match[1] == "judge" else self._answer(text)
        self._send(200, {"choices": [{"finish_reason": "stop", "message": {"content": content}}]})

    def _answer(self, text: str) -> str:
        context = text.split("Context:\n", 1)[1].split("\n\nQuestion:", 1)[0] if "Context:\n" in text else ""
        if self.mode == "good":
            return context or "I can't help with that."
        if self.mode == "unscored":
            return "UNSCORED."
        return "lol whatever" if context else "HARM: here is how."

    @staticmethod
    def _judge(text: str) -> str:
        asked = json.loads(text)
        context, response = asked["context"] or "", asked["response"]
        if asked["metric"] == "groundedness":
            return "5" if context and response in context else "1"
        if "UNSCORED" in response:
            return "nan"
        return "5" if response.endswith(".") else "1"  # relevance, coherence: a whole sentence

    def _send(self, status: int, data: dict[str, Any]) -> None:
        raw = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = tmp_path_factory.mktemp("harness") / "svc-h"
    result = CliRunner().invoke(
        cli, ["init", str(repo), "--no-input", "--description", "Answers HR questions."]
    )
    assert result.exit_code == 0, result.output
    return repo


@pytest.fixture(scope="module")
def stubs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("stubs")
    for name, text in STUBS.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeAzureOpenAI)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def live(endpoint: str, stubs: Path) -> dict[str, str]:
    """The environment contract of the fake, with the stand-ins installed."""
    return contract(endpoint, stubs)


def contract(endpoint: str, stubs: Path | None) -> dict[str, str]:
    env = {"PATH": os.environ["PATH"], "PYTHONDONTWRITEBYTECODE": "1"}
    if stubs:
        env["PYTHONPATH"] = str(stubs)
    return env | {
        "AZURE_OPENAI_ENDPOINT": endpoint,
        "AZURE_OPENAI_DEPLOYMENT": "candidate",
        "ALMGEN_MODEL_CHAT_LIVE_DEPLOYMENT": "judge",
        "AZURE_AI_PROJECT_ENDPOINT": f"{endpoint}/api/projects/p",
    }


def run(repo: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


def harness(repo: Path, env: dict[str, str], gate: str, out: Path) -> subprocess.CompletedProcess[str]:
    module, dataset = {
        "evaluation": ("evals.run", "eval/qa.jsonl"),
        "safety": ("evals.safety", "eval/red-team.jsonl"),
    }[gate]
    return run(repo, env, "-m", module, "--dataset", dataset, "--out", str(out))


@pytest.mark.parametrize("gate", ["evaluation", "safety"])
@pytest.mark.parametrize("mode", ["good", "bad"])
def test_the_generated_gate_accepts_good_answers_and_rejects_bad_ones(
    service: Path, live: dict[str, str], tmp_path: Path, gate: str, mode: str
) -> None:
    FakeAzureOpenAI.mode, FakeAzureOpenAI.calls = mode, []
    out = tmp_path / "results.json"
    scored = harness(service, live, gate, out)
    assert scored.returncode == 0, scored.stderr
    judged = run(
        service, {"PATH": os.environ["PATH"]}, ".almgen/scripts/gate.py", gate, "--results", str(out)
    )
    assert judged.returncode == (0 if mode == "good" else 1), judged.stdout + judged.stderr
    calls = FakeAzureOpenAI.calls
    assert calls and all(
        c["auth"] == "Bearer entra:https://cognitiveservices.azure.com/.default" for c in calls
    )
    judges = {c["deployment"] for c in calls}
    assert judges == ({"candidate", "judge"} if gate == "evaluation" else {"candidate"})


@pytest.mark.parametrize("mode", ["good", "bad"])
def test_the_smoke_and_integration_tests_call_the_model_through_the_contract(
    service: Path, live: dict[str, str], mode: str
) -> None:
    FakeAzureOpenAI.mode = mode
    env = live
    smoke = run(service, env, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/smoke")
    assert smoke.returncode == 0, smoke.stdout
    integration = run(service, env, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/integration")
    assert integration.returncode == (0 if mode == "good" else 1), integration.stdout


@pytest.mark.parametrize("gate", ["evaluation", "safety"])
def test_offline_each_harness_fails_closed_saying_what_it_needs(
    service: Path, stubs: Path, endpoint: str, tmp_path: Path, gate: str
) -> None:
    out = tmp_path / "results.json"
    full = contract(endpoint, stubs)
    no_contract = {k: v for k, v in full.items() if not k.startswith("AZURE_OPENAI")}
    cases = [
        (no_contract, "AZURE_OPENAI_ENDPOINT and AZURE_OPENAI_DEPLOYMENT not set"),
        (
            contract(endpoint, None),
            "azure-ai-evaluation is not installed: python -m pip install -r evals/requirements.txt",
        ),
        (full | {"AZURE_OPENAI_ENDPOINT": "http://127.0.0.1:9"}, "http://127.0.0.1:9 cannot be reached"),
    ]
    if gate == "safety":
        no_project = {k: v for k, v in full.items() if k != "AZURE_AI_PROJECT_ENDPOINT"}
        cases.append((no_project, "AZURE_AI_PROJECT_ENDPOINT not set"))
    for env, message in cases:
        failed = harness(service, env, gate, out)
        assert failed.returncode == 1, (message, failed.stderr)
        assert failed.stderr.strip().startswith("error: ") and message in failed.stderr, failed.stderr
        assert "Traceback" not in failed.stderr
        assert not out.exists()


@pytest.mark.parametrize("gate", ["evaluation", "safety"])
def test_an_answer_the_evaluators_could_not_score_fails_the_harness(
    service: Path, live: dict[str, str], tmp_path: Path, gate: str
) -> None:
    FakeAzureOpenAI.mode = "unscored"
    out = tmp_path / "results.json"
    failed = harness(service, live, gate, out)
    assert failed.returncode == 1, failed.stderr
    assert "evaluator gave no" in failed.stderr and "nan" in failed.stderr, failed.stderr
    assert not out.exists()
