"""SHA-256, HMAC-SHA256 and BLAKE2b for the pre-commit fast path, without loading OpenSSL.

Importing hashlib loads OpenSSL, which costs a clean `almgen check` more than hashing a service's
managed files does. CPython carries its own SHA-256 (`_sha2` since 3.12, `_sha256` before: the
module hashlib itself falls back on); the digest is the same SHA-256. A Python without it uses
hashlib's, and so does `hex_sha256` once hashlib is loaded anyway (generate) or past a megabyte
(a large repository), where OpenSSL's speed pays for its import. HMAC is RFC 2104 over that
SHA-256, the same value as `hmac.new(key, message, "sha256")` (tests/test_regen_trust.py).

The fast path compares the managed files with one BLAKE2b digest (`content_digest`): CPython's
BLAKE2b is about three times faster than its SHA-256, and the managed files are most of the
bytes a clean check reads. The manifest's per-file hashes stay SHA-256 (what `sha256sum` shows).
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # typing's TYPE_CHECKING, without importing typing (mypy reads it the same)
if TYPE_CHECKING:
    from collections.abc import Iterable
    from hashlib import blake2b, sha256
    from hmac import compare_digest as equal_digests
else:
    try:  # asking for a module that is not there searches every folder of sys.path
        if sys.version_info >= (3, 12):
            from _sha2 import sha256
        else:
            from _sha256 import sha256
    except ImportError:
        from hashlib import sha256
    try:
        from _blake2 import blake2b
    except ImportError:
        from hashlib import blake2b
    try:
        from _operator import _compare_digest as equal_digests  # what hmac.compare_digest is
    except ImportError:
        from hmac import compare_digest as equal_digests

__all__ = ["content_digest", "equal_digests", "hex_blake2b", "hex_sha256", "hmac_sha256", "sha256"]

# CPython's own SHA-256 is about four times slower than OpenSSL's, so past this much data in one
# process (a large repository's managed files) importing hashlib pays for itself.
BUILTIN_BYTES = 1024 * 1024
_builtin_left = [BUILTIN_BYTES]

_BLOCK = 64  # SHA-256's block size in bytes
_INNER = bytes(x ^ 0x36 for x in range(256))
_OUTER = bytes(x ^ 0x5C for x in range(256))


def hmac_sha256(key: bytes, message: bytes) -> str:
    """The hex HMAC-SHA256 of `message` under `key` (RFC 2104)."""
    if len(key) > _BLOCK:
        key = sha256(key).digest()
    key = key.ljust(_BLOCK, b"\0")
    inner = sha256(key.translate(_INNER) + message).digest()
    return sha256(key.translate(_OUTER) + inner).hexdigest()


def hex_sha256(data: bytes) -> str:
    """The hex SHA-256 of `data`: hashlib's once it is loaded or the data is large, else CPython's."""
    loaded = sys.modules.get("hashlib")
    if loaded is None and _builtin_left[0] >= len(data):
        _builtin_left[0] -= len(data)
        return sha256(data).hexdigest()
    import hashlib

    return hashlib.sha256(data).hexdigest()


def hex_blake2b(data: bytes) -> str:
    """The hex BLAKE2b-256 of `data`."""
    return blake2b(data, digest_size=32).hexdigest()


def content_digest(files: Iterable[tuple[str, str]]) -> str:
    """One BLAKE2b-256 over (path, hex BLAKE2b-256 of its content) pairs, in path order."""
    total = blake2b(digest_size=32)
    for path, digest in sorted(files):
        total.update(path.encode("utf-8") + b"\0" + digest.encode("ascii") + b"\n")
    return total.hexdigest()
