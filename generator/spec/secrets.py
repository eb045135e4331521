"""Refuse values that look like secrets: secrets live in Key Vault, never in the spec."""

from __future__ import annotations

import re

_VALUE_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("a private key", re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")),
    ("a password argument", re.compile(r"(?i)--?(password|passwd|secret|api-?key|token)[ =]\S+")),
    (
        "a connection string",
        re.compile(
            r"(?i)(AccountKey|SharedAccessKey|SharedAccessSignature|DefaultEndpointsProtocol|"
            r"Password|Pwd|User ID)\s*=\s*[^;\s]+"
        ),
    ),
    ("a SAS token", re.compile(r"(?i)(^|[?&])sig=[A-Za-z0-9%/+=]{16,}")),
    ("an OpenAI-style API key", re.compile(r"\bsk-[A-Za-z0-9_-]{20,}")),
    (
        "a GitHub token",
        re.compile(r"\b(ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{30,}|\bgithub_pat_[A-Za-z0-9_]{30,}"),
    ),
    ("an AWS access key", re.compile(r"\bAKIA[0-9A-Z]{16}\b")),
    ("a JSON web token", re.compile(r"\beyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]+")),
    ("an Azure key", re.compile(r"(?<![0-9a-fA-F])[0-9a-f]{32}(?![0-9a-fA-F])")),
    ("a credential in a URL", re.compile(r"[a-z][a-z0-9+.-]*://[^/\s:@]+:[^/\s@]+@")),
)

_SECRET_WORDS = (
    "password",
    "passwd",
    "secret",
    "apikey",
    "accesskey",
    "connectionstring",
    "privatekey",
    "credential",
    "sastoken",
)


def secret_kind(value: str) -> str | None:
    """What kind of secret `value` looks like, or None."""
    for kind, pattern in _VALUE_PATTERNS:
        if pattern.search(value):
            return kind
    return None


def secret_key(key: str) -> bool:
    """A setting or tag name under which a value would be a secret (e.g. `Db:Password`)."""
    compact = re.sub(r"[^a-z0-9]", "", key.lower())
    return any(word in compact for word in _SECRET_WORDS) or compact.endswith("token")
