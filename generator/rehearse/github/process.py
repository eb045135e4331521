"""One `run:` step as a process: the shell GitHub would use, its own process group, the env files."""

from __future__ import annotations

import shlex
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

from generator.rehearse.github.errors import unsupported
from generator.rehearse.processes import kill_group, wait

# GitHub's runner: no `shell:` means `bash -e {0}` (no pipefail); `shell: bash` adds pipefail
_SHELLS = {
    "": (["bash", "-e", "{0}"], ".sh"),
    "bash": (["bash", "--noprofile", "--norc", "-eo", "pipefail", "{0}"], ".sh"),
    "sh": (["sh", "-e", "{0}"], ".sh"),
    "python": (["python", "{0}"], ".py"),
}


@dataclass
class Finished:
    returncode: int
    log: str
    wall_timeout: bool


def shell_command(shell: str, script_file: Path) -> list[str]:
    if shell in _SHELLS:
        argv = _SHELLS[shell][0]
    elif shell in ("pwsh", "powershell", "cmd"):
        raise unsupported(f"'shell: {shell}' (steps run on a Linux runner with bash)")
    elif "{0}" in shell:
        argv = shlex.split(shell)
    else:
        raise unsupported(f"'shell: {shell}' (a custom shell needs '{{0}}' for the script file)")
    return [str(script_file) if part == "{0}" else part for part in argv]


def script_suffix(shell: str) -> str:
    return _SHELLS.get(shell, ([], ".sh"))[1]


def run_process(
    argv: list[str], *, cwd: Path, env: dict[str, str], log_file: Path, wall_seconds: float
) -> Finished:
    """Run in a new process group; output (stdout and stderr together) to log_file."""
    with log_file.open("w", encoding="utf-8") as out:
        try:
            proc = subprocess.Popen(
                argv,
                cwd=cwd,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        except OSError as exc:
            out.write(f"{exc}\n")
            return Finished(127, log_file.read_text("utf-8", errors="replace"), False)
        returncode, wall_timeout = wait(proc, wall_seconds)
        kill_group(proc.pid)  # what the step left running in the background ends with it
    return Finished(returncode, log_file.read_text("utf-8", errors="replace"), wall_timeout)


def write_script(temp: Path, body: str, shell: str) -> Path:
    path = temp / f"{uuid.uuid4()}{script_suffix(shell)}"
    path.write_text(body if body.endswith("\n") else body + "\n", "utf-8")
    return path


class EnvFileError(Exception):
    pass


def read_env_file(path: Path) -> dict[str, str]:
    """`name=value` lines and `name<<DELIMITER` blocks, as GITHUB_OUTPUT and GITHUB_ENV hold them."""
    if not path.exists():
        return {}
    lines = path.read_text("utf-8").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    values: dict[str, str] = {}
    index = 0
    while index < len(lines):
        line = lines[index].rstrip("\r")
        index += 1
        if not line.strip():
            continue
        equals, heredoc = line.find("="), line.find("<<")
        if equals >= 0 and (heredoc < 0 or equals < heredoc):
            name, value = line[:equals], line[equals + 1 :]
            if not name:
                raise EnvFileError(f"Invalid format '{line}': the name is empty")
            values[name] = value
            continue
        if heredoc <= 0:
            raise EnvFileError(f"Invalid format '{line}'")
        name, delimiter = line[:heredoc], line[heredoc + 2 :]
        if not delimiter:
            raise EnvFileError(f"Invalid format '{line}': the delimiter is empty")
        block: list[str] = []
        while True:
            if index >= len(lines):
                raise EnvFileError(f"Invalid value. Matching delimiter not found '{delimiter}'")
            current = lines[index].rstrip("\r")
            index += 1
            if current == delimiter:
                break
            block.append(current)
        values[name] = "\n".join(block)
    return values
