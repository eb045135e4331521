"""Smoke test after each deployment: the AI Services endpoint of the environment answers."""

from __future__ import annotations

import os
import urllib.error
import urllib.request


def test_the_endpoint_is_reachable() -> None:
    endpoint = os.environ.get("ALMGEN_ENDPOINT", "")
    assert endpoint.startswith("https://"), "the pipeline sets ALMGEN_ENDPOINT"
    try:
        urllib.request.urlopen(endpoint, timeout=10)
    except urllib.error.HTTPError as exc:  # 401/404 without a token still proves it is up
        assert exc.code < 500
