"""The manifest's seal: a keyed digest (HMAC-SHA256) over what almgen read and what it wrote.

The key is derived from the generator's version and the digest of the inputs, and the message is
every input and file entry and the managed files' content digest (digests.content_digest, when
the manifest has one), so changing any hash, ownership, path or that digest by hand breaks the
seal. The fast path of `almgen check` trusts a manifest only when its seal verifies;
any doubt (no seal, a wrong seal, another version) means a full render. Standard library only,
without hashlib (generator/regen/digests.py).

The seal proves the manifest was written by almgen's code path, not that nobody could recompute
it: the key is derived from public data, so it stops hand edits and careless tools, and the full
render (`almgen check` without the fast path) remains the ground truth.
"""

from __future__ import annotations

from generator.regen.cjson import quote
from generator.regen.digests import equal_digests, hmac_sha256, sha256

TYPE_CHECKING = False  # without importing typing
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

ALGORITHM = "hmac-sha256"
_DOMAIN = b"almgen manifest seal v1\0"


def _inputs_digest(inputs: Mapping[str, str]) -> bytes:
    total = sha256()
    for path, sha in sorted(inputs.items()):
        total.update(path.encode("utf-8") + b"\0" + sha.encode("utf-8") + b"\n")
    return total.digest()


def seal(
    version: str, inputs: Mapping[str, str], files: Iterable[tuple[str, str, str]], content: str = ""
) -> str:
    """The seal of a manifest: `files` are (path, ownership, sha256); `content` their content digest."""
    key = sha256(_DOMAIN + version.encode("utf-8") + b"\0" + _inputs_digest(inputs)).digest()
    return hmac_sha256(key, message(version, inputs, files, content).encode("ascii"))


def message(
    version: str, inputs: Mapping[str, str], files: Iterable[tuple[str, str, str]], content: str
) -> str:
    """What the seal signs: `json.dumps(...)` of this mapping, compact and ASCII, written out here
    because the fast path does not import json (generator/regen/cjson.py):
    `{"version": version, "inputs": sorted(inputs.items()), "files": sorted(files)}`, and
    `"content": content` when there is one (a manifest without it seals as before it existed)."""
    text = f'{{"version":{quote(version)},"inputs":{_rows(sorted(inputs.items()))}'
    text += f',"files":{_rows(sorted(files))}'
    return text + (f',"content":{quote(content)}}}' if content else "}")


def _rows(rows: Iterable[tuple[str, ...]]) -> str:
    return "[" + ",".join("[" + ",".join(map(quote, row)) + "]" for row in rows) + "]"


def verifies(
    claimed: object,
    version: str,
    inputs: Mapping[str, str],
    files: Iterable[tuple[str, str, str]],
    content: object = "",
) -> bool:
    """True only when `claimed` is exactly the seal of this content."""
    if not isinstance(claimed, str) or not claimed.isascii():  # compare_digest takes ASCII text only
        return False
    if not isinstance(content, str):
        return False
    try:
        expected = seal(version, inputs, files, content)
    except (TypeError, AttributeError):  # a path or hash that is not text: nothing almgen sealed
        return False
    return equal_digests(claimed, expected)
