"""The rules of the `retrieval` section that a JSON Schema cannot express (located issues)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from generator.errors import Issue
from generator.spec.document import Document, FieldPath
from generator.spec.suggest import did_you_mean, one_of

RESERVED_FIELDS = ("id", "content", "title", "source", "contentVector")
SEARCH_TOOL = "azure_ai_search"


# The embedding models Azure AI Search's Azure OpenAI vectorizer and embedding skill take, and the
# dimensions of their vectors (learn.microsoft.com: "Azure OpenAI Embedding skill", modelName).
EMBEDDING_DIMENSIONS = {
    "text-embedding-ada-002": 1536,
    "text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
}


def is_embedding_model(catalog_model: str) -> bool:
    return catalog_model in EMBEDDING_DIMENSIONS


def retrieval_rules(doc: Document) -> Iterator[Issue]:
    raw = doc.data.get("retrieval")
    if not isinstance(raw, dict):
        return
    yield from _source(doc, raw)
    yield from _embedding(doc, raw)
    yield from _chunking(doc, raw)
    yield from _fields(doc, raw)
    yield from _users(doc, raw)


def _source(doc: Document, raw: dict[str, Any]) -> Iterator[Issue]:
    source = raw["source"]
    if ("asset" in source) == ("path" in source):
        yield doc.issue(
            ("retrieval", "source"),
            "the document source is a data asset or a storage path",
            "exactly one of `asset:` or `path:`, with `version:`",
            "keep `asset:` for an Azure ML data asset, `path:` for a blob folder",
        )
    elif "asset" in source and not any(m.get("kind") == "custom" for m in doc.data["models"]):
        yield doc.issue(
            ("retrieval", "source", "asset"),
            "a data asset is read from the spec's Azure ML registry: only a spec with custom models has one",
            "`path:` (a blob folder) without a custom model",
            "name the blob folder of the documents with `path:`",
            key=True,
        )


def _embedding(doc: Document, raw: dict[str, Any]) -> Iterator[Issue]:
    models = {m["name"]: m for m in doc.data["models"]}
    name = raw["embedding"]
    path: FieldPath = ("retrieval", "embedding")
    model = models.get(name)
    if model is None:
        hint = did_you_mean(name, list(models))
        yield doc.issue(
            path,
            f"{name!r} is not a model name from models",
            f"one of {one_of(list(models))}",
            hint or f"define an embedding model {name!r} in models first",
        )
    elif model.get("kind", "foundation") != "foundation" or not is_embedding_model(model.get("model", "")):
        yield doc.issue(
            path,
            f"{name!r} is not an embedding model",
            f"a foundation model whose catalog model is one of {one_of(list(EMBEDDING_DIMENSIONS))}",
            "point retrieval.embedding at an embedding model deployment",
        )


def _chunking(doc: Document, raw: dict[str, Any]) -> Iterator[Issue]:
    chunking = raw.get("chunking") or {}
    size, overlap = chunking.get("size", 2000), chunking.get("overlap", 200)
    if overlap >= size:
        yield doc.issue(
            ("retrieval", "chunking", "overlap"),
            f"an overlap of {overlap} characters is not less than the chunk size {size}",
            "overlap < size",
            "lower the overlap or raise the size",
        )


def _fields(doc: Document, raw: dict[str, Any]) -> Iterator[Issue]:
    for index, name in enumerate((raw.get("index") or {}).get("fields", [])):
        if name in RESERVED_FIELDS:
            yield doc.issue(
                ("retrieval", "index", "fields", index),
                f"{name!r} is a field every chunk has already",
                f"a name other than {one_of(list(RESERVED_FIELDS))}",
                "remove it, or rename the metadata field",
            )


def _users(doc: Document, raw: dict[str, Any]) -> Iterator[Issue]:
    agents = {a["name"]: a for a in doc.data.get("agents", [])}
    tests = list(doc.data.get("tests", {}))
    for index, name in enumerate(raw.get("agents", [])):
        path: FieldPath = ("retrieval", "agents", index)
        if name not in agents:
            hint = did_you_mean(name, list(agents))
            yield doc.issue(
                path,
                f"{name!r} is not an agent name from agents",
                f"one of {one_of(list(agents))}",
                hint or f"define the agent {name!r} first",
            )
        elif SEARCH_TOOL not in agents[name].get("tools", []):
            yield doc.issue(
                path,
                f"the agent {name!r} has no {SEARCH_TOOL} tool to query the index with",
                f"agents that list {SEARCH_TOOL} in their tools",
                f"add {SEARCH_TOOL} to the agent's tools",
            )
    for index, name in enumerate(raw.get("tests", [])):
        if name not in tests:
            hint = did_you_mean(name, tests)
            yield doc.issue(
                ("retrieval", "tests", index),
                f"{name!r} is not a test name from tests",
                f"one of {one_of(tests)}",
                hint or f"define the test {name!r} first",
            )
