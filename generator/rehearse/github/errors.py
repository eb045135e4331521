"""The errors of the GitHub Actions runner: what rehearse refuses, and workflows GitHub would reject."""

from __future__ import annotations


class ExpressionError(Exception):
    """An expression that cannot be parsed or evaluated (GitHub fails the step or the run)."""


class Unsupported(Exception):
    """A construct rehearse does not support (the message names it)."""


class RehearseError(Exception):
    """A clear, located error: the file, the job and the step, then what went wrong."""

    def __init__(self, message: str, *, file: str = "", job: str = "", step: str = "") -> None:
        self.file, self.job, self.step, self.detail = file, job, step, message
        where = ", ".join(
            part for part in (file, f"job '{job}'" if job else "", f"step '{step}'" if step else "") if part
        )
        super().__init__(f"{where}: {message}" if where else message)


def unsupported(construct: str) -> Unsupported:
    return Unsupported(f"rehearse does not support {construct}")


class InvalidWorkflow(RehearseError):
    """A workflow GitHub would refuse to start (the run fails with no job run)."""
