"""The one error the Azure DevOps rehearsal raises for what it cannot or will not run."""

from __future__ import annotations


class DevOpsError(Exception):
    """A pipeline the rehearsal refuses: names the file and the construct, never a traceback."""

    def __init__(self, message: str, *, file: str | None = None) -> None:
        self.file = file
        super().__init__(f"{file}: {message}" if file else message)
