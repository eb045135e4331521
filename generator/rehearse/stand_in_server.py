"""The stand-ins' server: one process that has imported every stand-in and forks once per call.

A rehearsal runs a few hundred `az` calls and sleeps, each a new Python process whose imports
cost about 70 ms for a few ms of work. While a runner runs a pipeline (`serving(world)`), this
server listens on an abstract Unix socket whose name is in `<world>/stand-in-server`; the stand-ins
on PATH start generator.rehearse.stand_in_client, which sends the call here with its standard
streams. For each call the server says it took it (ACCEPTED; a call it did not take, the client
runs itself), then forks: the child takes the caller's streams, working folder, environment and
umask, runs the module's `main(argv)` as `python -m MODULE` would (SystemExit, tracebacks and
exit statuses included), sends the status back and exits. A fork is a fresh copy of a process
that has only imported, so calls share nothing but the world's files, as before.

What a fork cannot take is the caller's process group (another session's): a stand-in that stops
its step (`world.stop_step`) is told the group (`world.serve_caller_in`).

Linux only (abstract socket names): elsewhere, and when no server runs, the client starts
`python -m MODULE` itself. The server ends when its standard input closes (the runner's `serving`
block ended, or the runner died) and kills any call still running then.
"""

from __future__ import annotations

import contextlib
import importlib
import marshal
import os
import select
import signal
import socket
import subprocess
import sys
import traceback
from collections.abc import Callable, Iterator
from typing import Any, NoReturn

from generator.rehearse.stand_in_client import ACCEPTED, ADDRESS_FILE, HEADER, SERVED
from generator.rehearse.world import World, serve_caller_in, write_atomic

Main = Callable[[list[str]], Any]
MAX_REQUEST = 16 << 20  # bytes: arguments and environment of one call
_serving: set[World] = set()  # the worlds this process serves (a run inside a run reuses its server)


@contextlib.contextmanager
def serving(world: World) -> Iterator[None]:
    """Serve WORLD's stand-ins while the block runs (Linux; elsewhere they start as processes)."""
    started = _start(world) if sys.platform.startswith("linux") and world not in _serving else None
    if started is None:
        yield
        return
    name, server = started
    address = world.root / ADDRESS_FILE
    write_atomic(address, name + "\n")
    _serving.add(world)
    try:
        yield
    finally:
        _serving.discard(world)
        address.unlink(missing_ok=True)
        if server.stdin:
            server.stdin.close()
        server.wait()


def _start(world: World) -> tuple[str, subprocess.Popen[bytes]] | None:
    """The server's socket name and process; None where no socket can be made (a sandbox)."""
    name = f"almgen-stand-ins-{os.getpid()}-{os.urandom(8).hex()}"
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
            listener.bind("\0" + name)
            listener.listen(128)
            server = subprocess.Popen(
                [sys.executable, "-m", __name__, str(listener.fileno())],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                env=world.environ(),
                pass_fds=(listener.fileno(),),
                start_new_session=True,  # out of reach of a runner ending a step's process group
            )
    except OSError:
        return None
    return name, server


def load_mains() -> dict[str, Main]:
    """Each served module's `main(argv)`: a package's is in its `__main__`."""
    mains: dict[str, Main] = {}
    for name in SERVED:
        module = importlib.import_module(name)
        if hasattr(module, "__path__"):
            module = importlib.import_module(f"{name}.__main__")
        mains[name] = module.main
    return mains


def serve(listener: socket.socket, mains: dict[str, Main]) -> None:
    """Take calls until standard input closes; then kill the calls still running."""
    children: set[int] = set()
    poller = select.poll()  # not select(): the listener keeps the runner's fd number, maybe past 1023
    poller.register(listener.fileno(), select.POLLIN)
    poller.register(0, select.POLLIN)
    try:
        while True:
            ready = {fd for fd, _ in poller.poll(1000)}
            _reap(children)
            if 0 in ready:
                return
            if listener.fileno() in ready:
                conn, _ = listener.accept()
                with conn:
                    pid = _take(conn, listener, mains)
                if pid:
                    children.add(pid)
    finally:
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        _reap(children, block=True)


def _reap(children: set[int], *, block: bool = False) -> None:
    for pid in list(children):
        with contextlib.suppress(ChildProcessError):
            done, _ = os.waitpid(pid, 0 if block else os.WNOHANG)
            if not done:
                continue
        children.discard(pid)


def _take(conn: socket.socket, listener: socket.socket, mains: dict[str, Main]) -> int:
    """Fork the call CONN sends; the child's pid, or 0 when there is none (the client then runs
    the call itself, or reports it without a status if it had been accepted)."""
    conn.settimeout(10.0)
    fds: list[int] = []
    try:
        head, ancillary, _, _ = conn.recvmsg(HEADER, socket.CMSG_SPACE(3 * 4))
        for level, kind, data in ancillary:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds.extend(int.from_bytes(data[i : i + 4], sys.byteorder) for i in range(0, len(data), 4))
        size = int.from_bytes(head, "little") if len(head) == HEADER else -1
        body = _receive(conn, size)
        request = _unpack(body, mains, fds)
        conn.sendall(ACCEPTED)
        pid = os.fork()
    except (OSError, ValueError, EOFError, TypeError):
        pid = -1  # before ACCEPTED the client runs the call itself; after it, it reports no status
    if pid == 0:
        listener.close()
        _child(conn, request, fds, mains)
    for fd in fds:
        os.close(fd)
    return max(pid, 0)


def _receive(conn: socket.socket, size: int) -> bytes:
    if not 0 < size <= MAX_REQUEST:
        raise ValueError(f"a request of {size} bytes")
    chunks: list[bytes] = []
    while size:
        chunk = conn.recv(min(size, 1 << 16))
        if not chunk:
            raise EOFError("the client left")
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def _unpack(body: bytes, mains: dict[str, Main], fds: list[int]) -> tuple[Any, ...]:
    request = marshal.loads(body)
    module, args, cwd, environ, group, umask = request
    if module not in mains or len(fds) != 3:
        raise ValueError(f"a call of {module!r} with {len(fds)} streams")
    if not (isinstance(args, list) and all(isinstance(a, str) for a in args)):
        raise TypeError("arguments")
    if not (isinstance(environ, dict) and isinstance(group, int) and isinstance(umask, int)):
        raise TypeError("environment")
    return module, args, cwd, environ, group, umask


def _child(conn: socket.socket, request: tuple[Any, ...], fds: list[int], mains: dict[str, Main]) -> NoReturn:
    status = 1
    try:
        module, args, cwd, environ, group, umask = request
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        os.chdir(cwd)
        os.umask(umask)
        os.environ.clear()
        os.environ.update({os.fsdecode(key): os.fsdecode(value) for key, value in environ.items()})
        serve_caller_in(group)
        sys.argv = [module, *args]
        status = _run(mains[module], args)
    except BaseException:  # printed for the caller, on its standard error
        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except OSError:
                status = status or 120  # as the interpreter does when flushing fails at exit
        with contextlib.suppress(OSError):
            conn.sendall(status.to_bytes(4, "little", signed=True))
        os._exit(status & 0xFF)


def _run(main: Main, args: list[str]) -> int:
    """The exit status `sys.exit(main(args))` gives a process, with what it prints."""
    try:
        code = main(args)
    except SystemExit as stop:
        code = stop.code
    except Exception:  # printed as the interpreter would
        traceback.print_exc()
        return 1
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def main(argv: list[str]) -> int:
    mains = load_mains()
    listener = socket.socket(fileno=int(argv[0]))
    with listener:
        serve(listener, mains)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
