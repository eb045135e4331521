"""Write a generated service's files as almgen writes them, without almgen: the I/O floor.

Usage: python benchmarks/write_floor.py GENERATED TARGET

Every file under GENERATED's generated folders is written under TARGET the way
`generator/regen/files.py` writes one: a new temporary file beside it, the bytes, fsync, mode
0644, rename over the name. What this costs is what any generate of the same files pays the
kernel and the disk, whatever the generator; `run.py` prints it beside the generate.
Standard library only, so that it measures the writes and an interpreter start, nothing else.
"""

import os
import sys

FOLDERS = ("infra", ".github", ".azure-pipelines", ".almgen", "docs")


def main(generated: str, target: str) -> None:
    for folder in FOLDERS:
        for top, _, names in os.walk(os.path.join(generated, folder)):
            destination = os.path.join(target, os.path.relpath(top, generated))
            os.makedirs(destination, exist_ok=True)
            for name in names:
                with open(os.path.join(top, name), "rb") as handle:
                    data = handle.read()
                temporary = os.path.join(destination, f".{name}.{os.getpid()}.tmp")
                fd = os.open(temporary, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.chmod(temporary, 0o644)
                os.replace(temporary, os.path.join(destination, name))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
