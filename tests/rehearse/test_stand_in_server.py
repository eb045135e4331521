"""The stand-ins' server (generator.rehearse.stand_in_server): a call it serves answers, prints,
exits and stops its step exactly as the same call run as `python -m MODULE`, and the server is
gone when its block ends."""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from generator.rehearse import stand_in_server
from generator.rehearse.stand_in_client import ADDRESS_FILE, SERVED
from generator.rehearse.stand_in_server import serving
from generator.rehearse.tools import write_tools
from generator.rehearse.world import World

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the server is Linux only")

LOGIN = ["login", "--service-principal", "--username", "app", "--tenant", "t", "--federated-token", "x"]
REQUIRED = {"ALMGEN_STAND_IN_SERVER": "required"}  # the client fails rather than run the call itself


Result = tuple[int, str, str]  # exit status, standard output, standard error


def _run(world: World, argv: list[str], *, cwd: Path, extra: dict[str, str] | None = None) -> Result:
    env = world.environ()
    env.update(extra or {})
    done = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=cwd, check=False, input="")
    return done.returncode, done.stdout, done.stderr


def _session(world: World, tmp_path: Path, served: bool) -> list[Result]:
    """The same calls through the stand-ins, with the server (and it required) or without."""
    extra = REQUIRED if served else {}
    az = str(world.bin / "az")
    tools = write_tools(tmp_path / "tools")
    (tmp_path / "requirements.txt").write_text("pytest==8.3.3\n", "utf-8")
    calls = [
        [az, "account", "show"],  # before a login: az's error, exit 1
        [az, *LOGIN],
        [az, "account", "show", "--query", "tenantId", "-o", "tsv"],
        [az, "group", "show", "--name", "nowhere"],  # exit 3, as az says a resource is not found
        [az, "group", "shwo"],  # exit 2: not a command
        [str(world.bin / "sleep"), "90"],
        [str(world.bin / "sleep"), "ten"],  # exit 1, sleep's own message
        [str(tools / "python"), "-m", "pip", "install", "-r", "requirements.txt"],  # read from the cwd
        [str(tools / "python"), "-m", "generator.rehearse.stand_ins", "nonsense"],  # usage, exit 2
    ]
    with serving(world) if served else contextlib.nullcontext():
        return [_run(world, call, cwd=tmp_path, extra=extra) for call in calls]


def test_a_served_call_answers_as_the_same_call_run_as_a_process(tmp_path: Path) -> None:
    worlds = {served: World.create(tmp_path / f"world-{served}") for served in (False, True)}
    results = {
        served: _session(world, tmp_path / f"cwd-{served}", served) for served, world in worlds.items()
    }

    def normal(result: Result, world: World) -> Result:
        code, out, err = result
        return code, out.replace(str(world.root), "WORLD"), err.replace(str(world.root), "WORLD")

    unserved = [normal(r, worlds[False]) for r in results[False]]
    served = [normal(r, worlds[True]) for r in results[True]]
    assert served == unserved
    assert [code for code, _, _ in served] == [1, 0, 0, 3, 2, 0, 1, 0, 2]
    assert served[2][1] == json.loads((worlds[True].root / "azure.json").read_text())["tenant"] + "\n"
    assert worlds[True].minutes() == worlds[False].minutes() == 1.5
    assert (worlds[True].root / "az-calls.jsonl").read_text() == (
        worlds[False].root / "az-calls.jsonl"
    ).read_text()


def test_a_call_needs_the_server_only_when_asked_and_the_server_ends_with_its_block(tmp_path: Path) -> None:
    world = World.create(tmp_path / "world")
    az = [str(world.bin / "az"), *LOGIN]
    assert _run(world, az, cwd=tmp_path)[0] == 0  # no server: the client runs the call itself
    code, _, err = _run(world, az, cwd=tmp_path, extra=REQUIRED)
    assert code == 1 and "no stand-in server took this call" in err
    with serving(world):
        address = (world.root / ADDRESS_FILE).read_text().strip()
        assert _run(world, az, cwd=tmp_path, extra=REQUIRED)[0] == 0
    assert not (world.root / ADDRESS_FILE).exists()
    assert not any(address in line for line in Path("/proc/net/unix").read_text().splitlines())
    (world.root / ADDRESS_FILE).write_text(address + "\n")  # a stale address: nobody listens
    assert _run(world, az, cwd=tmp_path)[0] == 0
    assert _run(world, az, cwd=tmp_path, extra=REQUIRED)[0] == 1


def test_a_call_the_server_drops_before_it_accepts_runs_in_the_client(tmp_path: Path) -> None:
    """A server that reads a call and closes without accepting it (say, it broke while importing)
    has run nothing: the client runs the call itself."""
    world = World.create(tmp_path / "world")
    name = f"almgen-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
        listener.bind("\0" + name)
        listener.listen(4)
        (world.root / ADDRESS_FILE).write_text(name + "\n")

        def drop() -> None:
            conn, _ = listener.accept()
            with conn:
                conn.recv(1 << 16)

        dropper = threading.Thread(target=drop)
        dropper.start()
        code, out, _ = _run(world, [str(world.bin / "az"), *LOGIN], cwd=tmp_path)
        dropper.join(30)
    assert code == 0 and '"tenantId"' in out


def test_a_runner_with_many_files_open_is_served(tmp_path: Path) -> None:
    """The server keeps the runner's number for its socket: past 1023, where select() gives up."""
    world = World.create(tmp_path / "world")
    held = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]
    try:
        with serving(world):
            assert _run(world, [str(world.bin / "az"), *LOGIN], cwd=tmp_path, extra=REQUIRED)[0] == 0
    finally:
        for fd in held:
            os.close(fd)


def test_calls_at_once_each_run_in_their_own_fork_under_the_state_lock(tmp_path: Path) -> None:
    world = World.create(tmp_path / "world")
    with serving(world):
        assert _run(world, [str(world.bin / "az"), *LOGIN], cwd=tmp_path, extra=REQUIRED)[0] == 0

        def lock(number: int) -> int:
            argv = [str(world.bin / "az"), "lock", "create", "--name", f"lock-{number}"]
            argv += ["--lock-type", "CanNotDelete", "--resource-group", "rg"]
            return _run(world, argv, cwd=tmp_path, extra=REQUIRED)[0]

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            assert list(pool.map(lock, range(24))) == [0] * 24
    locks = json.loads((world.root / "azure.json").read_text())["locks"]
    assert set(locks) == {f"rg/lock-{number}" for number in range(24)}  # no write lost to another


def test_a_served_sleep_past_the_deadline_stops_the_calling_step(tmp_path: Path) -> None:
    """`sleep` crossing a job's deadline ends the step's process group, though the server's fork
    that runs it is not in that group."""
    for served in (False, True):
        world = World.create(tmp_path / f"world-{served}")
        world.set_deadline(world.now() + 60)
        marker = tmp_path / f"after-{served}"
        env = world.environ()
        env.update(REQUIRED if served else {})
        with serving(world) if served else contextlib.nullcontext():
            step = subprocess.Popen(
                ["sh", "-c", f'sleep 600; touch "{marker}"'], env=env, start_new_session=True
            )
            assert step.wait(timeout=60) == -signal.SIGTERM
        assert not marker.exists()
        assert world.now() == world.deadline()


def test_the_server_serves_what_the_client_hands_it() -> None:
    assert set(stand_in_server.load_mains()) == set(SERVED)


def test_a_served_main_exits_as_the_interpreter_would(capsys: pytest.CaptureFixture[str]) -> None:
    def stops(message: object) -> object:
        raise SystemExit(message)

    def fails(_: list[str]) -> int:
        raise RuntimeError("broken")

    assert stand_in_server._run(lambda _: 3, []) == 3
    assert stand_in_server._run(lambda _: None, []) == 0
    assert stand_in_server._run(lambda _: stops(None), []) == 0
    assert stand_in_server._run(lambda _: stops(4), []) == 4
    assert stand_in_server._run(lambda _: stops("rehearse: no world"), []) == 1
    assert capsys.readouterr().err == "rehearse: no world\n"
    assert stand_in_server._run(fails, []) == 1
    err = capsys.readouterr().err
    assert err.startswith("Traceback") and "RuntimeError: broken" in err
    assert os.environ.get("ALMGEN_STAND_IN_SERVER") is None
