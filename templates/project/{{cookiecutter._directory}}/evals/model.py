"""The model under test and its judge, read from the environment contract (docs/alm/CONTRACT.md).

No keys: the token comes from Entra ID (azure-identity's DefaultAzureCredential finds the
pipeline's login, or yours after `az login`). Everything the gates and tests need to know about
the environment is here, so each fails closed with one clear message when something is missing.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

API_VERSION = "2024-10-21"
SCOPE = "https://cognitiveservices.azure.com/.default"
PROMPT = Path(__file__).resolve().parents[1] / "prompts" / "system.md"
BLOCKED = "[blocked by the content filter]"
INSTALL = "python -m pip install -r evals/requirements.txt"


class NotReady(SystemExit):
    """What a harness needs and does not have: it fails closed with this message (exit 1)."""

    def __init__(self, message: str) -> None:
        super().__init__(f"error: {message}")


@dataclass(frozen=True)
class Contract:
    endpoint: str  # AZURE_OPENAI_ENDPOINT: the environment's AI Services account
    deployment: str  # AZURE_OPENAI_DEPLOYMENT: the deployment under test
    judge: str  # ALMGEN_MODEL_CHAT_LIVE_DEPLOYMENT: the deployment serving customers judges

    @property
    def judge_config(self) -> dict[str, str]:
        """azure-ai-evaluation's model configuration for the AI judge (no key: a credential)."""
        return {"azure_endpoint": self.endpoint, "azure_deployment": self.judge, "api_version": API_VERSION}


def contract() -> Contract:
    missing = [n for n in ("AZURE_OPENAI_ENDPOINT", "AZURE_OPENAI_DEPLOYMENT") if not os.environ.get(n)]
    if missing:
        raise NotReady(
            f"{' and '.join(missing)} not set: the pipeline sets them (docs/alm/CONTRACT.md); locally, "
            "`python .almgen/scripts/contract.py --outputs outputs.json --env dev "
            "--release .almgen/release.json` prints them"
        )
    deployment = os.environ["AZURE_OPENAI_DEPLOYMENT"]
    judge = os.environ.get("ALMGEN_MODEL_CHAT_LIVE_DEPLOYMENT") or deployment
    return Contract(os.environ["AZURE_OPENAI_ENDPOINT"].rstrip("/"), deployment, judge)


def credential() -> Any:
    try:
        from azure.identity import DefaultAzureCredential
    except ImportError:
        raise NotReady(f"azure-identity is not installed: {INSTALL}") from None
    return DefaultAzureCredential()


def _token() -> str:
    try:
        return str(credential().get_token(SCOPE).token)
    except NotReady:
        raise
    except Exception as exc:  # azure-identity raises several kinds; all mean "no login"
        raise NotReady(f"no Entra ID token for {SCOPE} ({type(exc).__name__}): run `az login`") from exc


def chat(messages: list[dict[str, str]], *, deployment: str | None = None, temperature: float = 0.0) -> str:
    """One chat completion from the contract's endpoint; a content-filter refusal is `BLOCKED`."""
    where = contract()
    url = (
        f"{where.endpoint}/openai/deployments/{deployment or where.deployment}/chat/completions"
        f"?api-version={API_VERSION}"
    )
    body = json.dumps({"messages": messages, "temperature": temperature}).encode()
    request = urllib.request.Request(
        url, body, {"Authorization": f"Bearer {_token()}", "Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            data = json.load(response)
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode("utf-8", "replace")
        if exc.code == 400 and "content_filter" in detail:
            return BLOCKED
        raise NotReady(f"{url} answered {exc.code}: {detail[:300]}") from exc
    except (urllib.error.URLError, TimeoutError) as exc:
        raise NotReady(f"{where.endpoint} cannot be reached: {exc}") from exc
    choice = data["choices"][0]
    if choice.get("finish_reason") == "content_filter":
        return BLOCKED
    return str(choice["message"].get("content") or "")


def answer(query: str, context: str = "") -> str:
    """The service: the system prompt, the context, the question."""
    user = f"Context:\n{context}\n\nQuestion: {query}" if context else query
    return chat([{"role": "system", "content": PROMPT.read_text("utf-8")}, {"role": "user", "content": user}])


def arguments(doc: str | None) -> argparse.Namespace:
    """The harnesses' command line: `--dataset FILE --out FILE`."""
    parser = argparse.ArgumentParser(description=(doc or "").splitlines()[0])
    parser.add_argument("--dataset", type=Path, required=True, help="JSON lines, one row per case")
    parser.add_argument("--out", type=Path, required=True, help="the results file the gate reads")
    return parser.parse_args()


def finite(value: object) -> bool:
    """A real score: evaluators report NaN when the service could not score (that fails, never passes)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def rows(dataset: Path) -> list[dict[str, Any]]:
    """The dataset's JSON lines; an empty or unreadable dataset fails closed."""
    try:
        lines = dataset.read_text("utf-8").splitlines()
    except OSError as exc:
        raise NotReady(f"cannot read {dataset}: {exc.strerror}") from exc
    data = [json.loads(line) for line in lines if line.strip()]
    if not data:
        raise NotReady(f"{dataset} has no rows")
    return data


def write_metrics(out: Path, metrics: dict[str, float], details: list[dict[str, Any]]) -> None:
    """`{"metrics": ..., "rows": ...}`: the shape the generated gate reads (.almgen/scripts/gate.py)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"metrics": metrics, "rows": details}, indent=2) + "\n", "utf-8")
    print(json.dumps(metrics, indent=2))
