"""Real processes for the signal and chaos tests: start the CLI in its own session (as a
terminal would run a foreground job), find every process of that session, signal it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]


def session_processes(sid: int) -> list[tuple[int, str, str]]:
    """(pid, state, command) of every process whose session id is ``sid``."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                stat = f.read()
            with open(f"/proc/{d}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        rest = stat[stat.rindex(")") + 2 :].split()
        if int(rest[3]) == sid:
            out.append((int(d), rest[0], cmd))
    return out


def alive(procs: list[tuple[int, str, str]]) -> list[tuple[int, str, str]]:
    """Drop zombies (already dead, waiting to be reaped)."""
    return [p for p in procs if p[1] != "Z"]


def wait_for(pred: Callable[[], bool], timeout: float, step: float = 0.1) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(step)
    return pred()


@dataclass
class Cli:
    proc: subprocess.Popen
    out: Path
    err: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stderr(self) -> str:
        return self.err.read_text(errors="replace")

    def stdout(self) -> str:
        return self.out.read_text(errors="replace")

    def group_signal(self, sig: int) -> None:
        """What a terminal does on Ctrl-C: the signal to the whole foreground group."""
        os.killpg(self.pid, sig)

    def leftovers(self, grace_s: float) -> list[tuple[int, str, str]]:
        """Processes of the session still alive ``grace_s`` after the parent ended."""
        wait_for(lambda: not alive(session_processes(self.pid)), grace_s)
        return alive(session_processes(self.pid))

    def cleanup(self) -> None:
        for pid, _, _ in session_processes(self.pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            pass


def start_cli(args: list[str], tmp: Path, name: str = "cli", env: dict | None = None) -> Cli:
    out, err = tmp / f"{name}.stdout", tmp / f"{name}.stderr"
    proc = subprocess.Popen(
        [sys.executable, "-m", "neuro_deploy.cli", *args],
        cwd=tmp,
        stdout=open(out, "wb"),
        stderr=open(err, "wb"),
        start_new_session=True,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
    )
    return Cli(proc, out, err)


def lava_workers_started(cli: Cli, n: int = 3) -> Callable[[], bool]:
    """True once the session holds ``n`` processes besides the parent (Lava's actors)."""
    return lambda: len(alive(session_processes(cli.pid))) >= n + 1 or cli.proc.poll() is not None


ZYGOTE_CODE = r"""
import json, os, signal, sys
from neuro_deploy._process import watch_parent
watch_parent(os.getppid())                    # the test process dies: so does the zygote
import numpy, torch, h5py                     # the heavy imports, once, before any thread exists
import neuro_deploy.cli
import neuro_deploy.models.slayer_model, neuro_deploy.netx.export, neuro_deploy.sim.fast
import neuro_deploy.report.build, neuro_deploy.sim.replay, neuro_deploy.data.datasets
from neuro_deploy._compat import quiet_imports
with quiet_imports():
    import lava.lib.dl.slayer
from neuro_deploy.sim.lava import import_lava
import_lava()
torch.set_num_threads(1)                      # no intra-op thread pool to inherit
if os.environ.get("ZYGOTE_WARM_NET"):         # compile the fast backend's kernels once
    from neuro_deploy.netx import load_netx
    from neuro_deploy.sim import RunSpec, get_backend
    net = load_netx(os.environ["ZYGOTE_WARM_NET"])
    x = (numpy.random.default_rng(0).random((1,) + net.input_lava_shape + (5,)) < 0.3).astype(numpy.int8)
    get_backend("fast").run(net, RunSpec(steps=5, inputs=x))
from neuro_deploy.cli import main


def reap(signum, frame):
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if not pid:
            return
        say({"exit": pid, "code": os.waitstatus_to_exitcode(status)})


def say(msg):                                   # unbuffered: safe from the signal handler too
    os.write(OUT, (json.dumps(msg) + "\n").encode())


OUT = os.dup(1)
signal.signal(signal.SIGCHLD, reap)
say({"ready": os.getpid()})
for line in sys.stdin:
    req = json.loads(line)
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            os.close(OUT)
            os.setsid()
            os.chdir(req["cwd"])
            for fd, name in ((1, req["out"]), (2, req["err"])):
                f = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                os.dup2(f, fd)
                os.close(f)
            sys.stdout, sys.stderr = open(1, "w", closefd=False), open(2, "w", closefd=False)
            try:
                main(req["args"], prog_name="neuro-deploy", standalone_mode=True)
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except BaseException:
            import traceback
            traceback.print_exc()
        finally:
            try:
                sys.stdout.flush()
                sys.stderr.flush()
            finally:
                os._exit(code)
    say({"pid": pid})
"""


class Zygote:
    """A clean interpreter with the CLI imported that forks one process per command: real
    processes to kill, without ten seconds of imports each (forking the test process
    itself is unsafe: its torch threads hold locks)."""

    def __init__(self, warm_net: str | Path | None = None) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        if warm_net is not None:
            env["ZYGOTE_WARM_NET"] = str(warm_net)
        self.proc = subprocess.Popen(
            [sys.executable, "-c", ZYGOTE_CODE],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            text=True,
            bufsize=1,
        )
        self.exits: dict[int, int] = {}
        msg = self._read()
        assert "ready" in msg, msg

    def _read(self) -> dict:
        import json

        while True:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError("the zygote ended")
            msg = json.loads(line)
            if "exit" in msg:
                self.exits[msg["exit"]] = msg["code"]
                continue
            return msg

    def _drain(self) -> None:
        import json
        import select

        while select.select([self.proc.stdout], [], [], 0)[0]:
            line = self.proc.stdout.readline()
            if not line:
                return
            msg = json.loads(line)
            if "exit" in msg:
                self.exits[msg["exit"]] = msg["code"]

    def run(self, args: list[str], cwd: Path, name: str = "cli") -> Cli:
        import json

        out, err = cwd / f"{name}.stdout", cwd / f"{name}.stderr"
        self.proc.stdin.write(json.dumps({"args": args, "cwd": str(cwd), "out": str(out), "err": str(err)}) + "\n")
        self.proc.stdin.flush()
        pid = self._read()["pid"]
        return Cli(_ZygoteChild(self, pid), out, err)

    def close(self) -> None:
        self.proc.stdin.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


class _ZygoteChild:
    """The bits of Popen the tests use, for a child of the zygote."""

    def __init__(self, zygote: Zygote, pid: int) -> None:
        self.zygote, self.pid = zygote, pid

    @property
    def returncode(self) -> int | None:
        return self.zygote.exits.get(self.pid)

    def poll(self) -> int | None:
        self.zygote._drain()
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        end = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if end is not None and time.monotonic() > end:
                raise subprocess.TimeoutExpired("zygote child", timeout)
            time.sleep(0.02)
        return self.returncode  # type: ignore[return-value]

    def send_signal(self, sig: int) -> None:
        os.kill(self.pid, sig)


def guardians_orphaned() -> list[int]:
    """Temp-file guardians whose parent is gone (they should end with it)."""
    out = []
    for pid, state, cmd in session_processes_all():
        if "neuro-deploy temp-file guardian" in cmd and state != "Z":
            try:
                with open(f"/proc/{pid}/stat") as f:
                    stat = f.read()
            except OSError:
                continue
            ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
            if ppid == 1:
                out.append(pid)
    return out


def session_processes_all() -> list[tuple[int, str, str]]:
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                stat = f.read()
            with open(f"/proc/{d}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        out.append((int(d), stat[stat.rindex(")") + 2 :].split()[0], cmd))
    return out
