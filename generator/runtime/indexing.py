"""What a versioned search index is made of (retrieval.py): its inputs hash and its definitions.

Standard library only; copied beside the scripts into `.almgen/scripts/`. The definitions are Azure AI
Search REST bodies: an index with a vector profile and an Azure OpenAI vectorizer (queries are
vectorized by the search service with its own identity), and a skillset that splits each document
(Split skill) and embeds each chunk (Azure OpenAI Embedding skill), projecting one search document per
chunk into the index.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

HASH_MARK = "almgen inputs sha256="


def inputs_hash(facts: dict[str, Any]) -> str:
    """What an index is made of: documents, chunking, embedding model and version, definition."""
    inputs = {key: facts[key] for key in ("source", "chunking", "embedding", "index")}
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode("utf-8")).hexdigest()


def index_definition(name: str, facts: dict[str, Any], resource_uri: str, deployment: str) -> dict[str, Any]:
    embedding, index = facts["embedding"], facts["index"]
    fields: list[dict[str, Any]] = [
        {"name": "id", "type": "Edm.String", "key": True, "searchable": True, "analyzer": "keyword"},
        {"name": "parent_id", "type": "Edm.String", "filterable": True},
        {"name": "content", "type": "Edm.String", "searchable": True},
        {"name": "title", "type": "Edm.String", "searchable": True},
        {"name": "source", "type": "Edm.String", "filterable": True},
        {
            "name": "contentVector",
            "type": "Collection(Edm.Single)",
            "searchable": True,
            "retrievable": False,
            "dimensions": embedding["dimensions"],
            "vectorSearchProfile": "vectors",
        },
    ]
    fields += [{"name": f, "type": "Edm.String", "filterable": True} for f in index.get("fields") or []]
    algorithm: dict[str, Any] = {"name": "neighbours", "kind": index["algorithm"]}
    parameters_key = "hnswParameters" if index["algorithm"] == "hnsw" else "exhaustiveKnnParameters"
    algorithm[parameters_key] = {"metric": index["metric"]}
    definition: dict[str, Any] = {
        "name": name,
        "fields": fields,
        "vectorSearch": {
            "algorithms": [algorithm],
            "profiles": [{"name": "vectors", "algorithm": "neighbours", "vectorizer": "embedding"}],
            "vectorizers": [
                {
                    "name": "embedding",
                    "kind": "azureOpenAI",
                    "azureOpenAIParameters": {
                        "resourceUri": resource_uri,
                        "deploymentId": deployment,
                        "modelName": embedding["catalogModel"],
                    },
                }
            ],
        },
    }
    if index.get("semanticRanker"):
        definition["semantic"] = {
            "defaultConfiguration": "default",
            "configurations": [
                {
                    "name": "default",
                    "prioritizedFields": {
                        "titleField": {"fieldName": "title"},
                        "prioritizedContentFields": [{"fieldName": "content"}],
                    },
                }
            ],
        }
    return definition


def skillset_definition(
    name: str, facts: dict[str, Any], resource_uri: str, deployment: str
) -> dict[str, Any]:
    chunking, embedding = facts["chunking"], facts["embedding"]
    split: dict[str, Any] = {
        "@odata.type": "#Microsoft.Skills.Text.SplitSkill",
        "name": "chunks",
        "context": "/document",
        "textSplitMode": chunking["splitter"],
        "inputs": [{"name": "text", "source": "/document/content"}],
        "outputs": [{"name": "textItems", "targetName": "pages"}],
    }
    if chunking["splitter"] == "pages":
        split |= {"maximumPageLength": chunking["size"], "pageOverlapLength": chunking["overlap"]}
    mappings = [
        {"name": "content", "source": "/document/pages/*"},
        {"name": "contentVector", "source": "/document/pages/*/vector"},
        {"name": "title", "source": "/document/metadata_storage_name"},
        {"name": "source", "source": "/document/metadata_storage_path"},
    ]
    mappings += [{"name": f, "source": f"/document/{f}"} for f in facts["index"].get("fields") or []]
    return {
        "name": name,
        "description": f"{HASH_MARK}{inputs_hash(facts)}",
        "skills": [
            split,
            {
                "@odata.type": "#Microsoft.Skills.Text.AzureOpenAIEmbeddingSkill",
                "name": "vectors",
                "context": "/document/pages/*",
                "resourceUri": resource_uri,
                "deploymentId": deployment,
                "modelName": embedding["catalogModel"],
                "dimensions": embedding["dimensions"],
                "inputs": [{"name": "text", "source": "/document/pages/*"}],
                "outputs": [{"name": "embedding", "targetName": "vector"}],
            },
        ],
        "indexProjections": {
            "selectors": [
                {
                    "targetIndexName": name,
                    "parentKeyFieldName": "parent_id",
                    "sourceContext": "/document/pages/*",
                    "mappings": mappings,
                }
            ],
            "parameters": {"projectionMode": "skipIndexingParentDocuments"},
        },
    }
