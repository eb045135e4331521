"""Refuse values that look like secrets: secrets live in Key Vault, never in the spec.

The rules are regular expressions for the formats of the keys an Azure AI service meets (the same
kind of rules as detect-secrets' keyword and key plugins, without its entropy guesses, which
would refuse digests and ids). A value that is not a secret is allowed by a comment on its line,
`# pragma: allowlist secret`, or on the line before, `# pragma: allowlist nextline secret`: the
comments detect-secrets reads, so one comment satisfies both scanners.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from generator.errors import Issue
from generator.spec.document import Document, FieldPath, iter_paths

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
    (
        "an Azure AI services key",  # 84 characters, Microsoft's signature `JQQJ9` at 53
        re.compile(r"(?<![A-Za-z0-9])[A-Za-z0-9]{52}JQQJ9[A-Za-z0-9]{27}(?![A-Za-z0-9])"),
    ),
    ("an Azure key", re.compile(r"(?<![0-9a-fA-F])[0-9a-f]{32}(?![0-9a-fA-F])")),
    ("a credential in a URL", re.compile(r"(?<![a-z0-9+.-])[a-z][a-z0-9+.-]{0,31}://[^/\s:@]+:[^/\s@]+@")),
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


_ALLOW_THIS_LINE = re.compile(r"#.*\bpragma:\s*allowlist[ -]secret\b")
_ALLOW_NEXT_LINE = re.compile(r"#.*\bpragma:\s*allowlist[ -]nextline[ -]secret\b")


def allowlisted(lines: list[str], line: int) -> bool:
    """True when line `line` (1-based) of a file, or the line before it, allows a non-secret."""
    this = lines[line - 1] if 0 < line <= len(lines) else ""
    before = lines[line - 2] if 1 < line <= len(lines) + 1 else ""
    return bool(_ALLOW_THIS_LINE.search(this) or _ALLOW_NEXT_LINE.search(before))


def _allowed_secret(doc: Document, path: FieldPath, lines: dict[str, list[str]]) -> bool:
    """The field's line carries `# pragma: allowlist secret` (or the line before the nextline form)."""
    pos = doc.locate(path)
    if pos.file not in lines:
        try:
            lines[pos.file] = doc.files[pos.file].read_text("utf-8", errors="replace").splitlines()
        except (KeyError, OSError):
            lines[pos.file] = []
    return allowlisted(lines[pos.file], pos.line)


def no_secrets(doc: Document) -> Iterator[Issue]:
    lines: dict[str, list[str]] = {}
    for path, value in iter_paths(doc.data):
        if path[:3] == ("configuration", "keyVault", "secrets"):
            continue  # names of secrets, by design
        if isinstance(value, str):
            kind = secret_kind(value)
            if kind and not _allowed_secret(doc, path, lines):
                yield doc.issue(
                    path,
                    f"this value looks like {kind}",
                    "no secret values in the spec: secrets live in Key Vault",
                    "remove the value; list its name under configuration.keyVault.secrets "
                    "and read it from Key Vault at run time (if it is not a secret, end its line "
                    "with `# pragma: allowlist secret`)",
                )
        if isinstance(value, dict) and path in (
            ("configuration", "appConfiguration", "settings"),
            ("service", "tags"),
        ):
            for key, item in value.items():
                if secret_key(key) and str(item).strip() and not _allowed_secret(doc, (*path, key), lines):
                    yield doc.issue(
                        (*path, key),
                        f"the setting {key!r} looks like a secret",
                        "non-secret settings only: secrets live in Key Vault",
                        f"list {key!r} under configuration.keyVault.secrets instead",
                    )
