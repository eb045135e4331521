"""The client of the stand-ins' server: `python -S -I stand_in_client.py MODULE ARGS...`.

A rehearsal's `az`, `sleep` and the other stand-ins run as `python -m MODULE ARGS` inside its
steps: a few hundred processes, each paying about 70 ms of imports for a few ms of work. Where a
stand-in server (generator.rehearse.stand_in_server) serves the world, this client hands it the
call instead: MODULE, ARGS, its working folder, environment, umask and process group, and its
standard input, output and error themselves (SCM_RIGHTS), then exits with the status the server's
fork reports. The call then runs in a fork of a process that has imported everything, with the
caller's files, so it reads and writes exactly what `python -m MODULE` would.

With no server (none started, another platform, a stale address), and for a module the server
does not serve, the client becomes `python -m MODULE ARGS` (execv): the same call, only slower.
With ALMGEN_STAND_IN_SERVER=required it fails instead (exit 1), so a test can tell the server
served a call.

This file imports only built-in modules (`-S -I` skips site and the environment), so it starts
in about a fifth of the time of `python -m MODULE`.
"""

import _socket
import marshal
import posix
import sys

SERVED = (
    "generator.rehearse.azure",
    "generator.rehearse.world",
    "generator.rehearse.stand_ins",
    "generator.rehearse.github.installed",
)
ADDRESS_FILE = "stand-in-server"  # in the world's folder: the server's abstract socket name
HEADER = 8  # bytes: the request's length, little-endian
ACCEPTED = b"\x01"  # the server's answer before it forks; then 4 bytes, the call's exit status


def _address() -> bytes:
    """The server's socket address, or b"" when no server serves this world."""
    root = posix.environ.get(b"ALMGEN_SIM_DIR")
    if not root:
        return b""
    try:
        fd = posix.open(root + b"/" + ADDRESS_FILE.encode(), posix.O_RDONLY)
    except OSError:
        return b""
    try:
        return posix.read(fd, 256).strip()
    finally:
        posix.close(fd)


def _request(module: str, args: list[str]) -> bytes:
    umask = posix.umask(0)
    posix.umask(umask)
    body = marshal.dumps((module, args, posix.getcwd(), dict(posix.environ), posix.getpgrp(), umask))
    return len(body).to_bytes(HEADER, "little") + body


def _call(address: bytes, module: str, args: list[str]) -> int | None:
    """The exit status of the call, or None when the server cannot take it (nothing was run)."""
    try:
        conn = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
        conn.connect(b"\0" + address)
        data = _request(module, args)
        fds = b"".join(fd.to_bytes(4, sys.byteorder) for fd in (0, 1, 2))
        sent = conn.sendmsg([data], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, fds)])
        if sent < len(data):
            conn.sendall(data[sent:])
    except OSError:
        return None  # no server listens, or a standard stream is closed: run it here
    if _receive(conn, 1) != ACCEPTED:
        return None  # the server did not take it: nothing ran
    status = _receive(conn, 4)
    if len(status) < 4:
        sys.stderr.write(f"rehearse: the stand-in server's {module} ended without a status\n")
        return 1
    return int.from_bytes(status, "little", signed=True)


def _receive(conn: _socket.socket, size: int) -> bytes:
    """SIZE bytes from CONN, or fewer when it closed first."""
    data = b""
    while len(data) < size:
        try:
            chunk = conn.recv(size - len(data))
        except OSError:
            chunk = b""
        if not chunk:
            break
        data += chunk
    return data


def main() -> None:
    module, args = sys.argv[1], sys.argv[2:]
    address = _address() if module in SERVED else b""
    status = _call(address, module, args) if address else None
    if status is None and posix.environ.get(b"ALMGEN_STAND_IN_SERVER") == b"required":
        sys.stderr.write(f"rehearse: no stand-in server took this call of {module}\n")
        status = 1
    if status is None:
        posix.execv(sys.executable, [sys.executable, "-m", module, *args])
    sys.exit(status)


if __name__ == "__main__":
    main()
