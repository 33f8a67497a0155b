"""Output files: one policy for every writer, and the cache folder.

The policy (:func:`check_output`, applied by :func:`atomic_path` and, before any work,
by every writing command of the CLI):

* the destination's folder must exist (it is never created unasked) and be writable;
* the destination must not be a directory, a device, FIFO or socket, nor one of the
  command's inputs;
* bytes go to a temp file in the same folder and are renamed over the destination only
  when complete (``os.replace`` is atomic within one file system), so a reader sees the
  old file or the new one, never half of one.

Temp files are named ``.NAME.nd-tmp-PID-RANDOM.SUFFIX`` and never outlive the write:
they are removed on any exception (SIGINT and, in the CLI, SIGTERM raise one); when the
process is killed outright (SIGKILL, OOM killer) a guardian process - one per writing
process, started with the first write - removes what its parent left when the parent's
end of a pipe closes; and temp files of dead processes found beside a new write are
removed too (the guardian may itself have been killed with the whole process group).
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Iterable, Iterator

from neuro_deploy.errors import OutputPathError

TEMP_MARK = ".nd-tmp-"
_TEMP_RE = re.compile(r"^\..+\.nd-tmp-(\d+)-[0-9a-f]+(\.[^.]*)?$")
#: A temp file of a dead process younger than this is left alone (another PID namespace
#: sharing the folder could reuse the number); the guardian removes it in the usual case.
STALE_AFTER_S = 10.0
#: errno values that mean "this destination cannot take the bytes", reported as
#: :class:`~neuro_deploy.errors.OutputPathError` instead of a traceback.
WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS}


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def check_output(
    path: str | Path, inputs: Iterable[str | Path] = (), *, folder: bool = False, probe: bool = True
) -> Path:
    """Check an output destination against the policy; returns the path to write.

    ``folder`` destinations (one file per item) may exist as a folder; their own parent
    must exist. ``inputs`` are the command's input files and folders (an output equal
    to one of them is refused). ``probe`` creates and removes a temp file in the folder
    to learn whether it takes files at all (read-only mounts, ``/proc``, permissions).
    Raises :class:`~neuro_deploy.errors.OutputPathError` (exit 2, one line).
    """
    if str(path) == "" or "\0" in str(path):
        raise OutputPathError(repr(str(path)), "not a usable path")
    p = Path(path)
    if p.exists() or p.is_symlink():
        try:
            st = os.stat(p)
        except OSError as exc:
            raise OutputPathError(p, f"cannot use ({exc.strerror})") from None
        if stat.S_ISDIR(st.st_mode) and not folder:
            raise OutputPathError(p, "is a directory; give a file name")
        if not stat.S_ISDIR(st.st_mode) and folder:
            raise OutputPathError(p, "exists and is not a folder")
        if not stat.S_ISDIR(st.st_mode) and not stat.S_ISREG(st.st_mode):
            raise OutputPathError(p, f"is {_kind(st.st_mode)}; give a regular file")
    for inp in inputs:
        if inp is not None and str(inp) != "" and _same_file(p, Path(inp)):
            raise OutputPathError(p, f"is also an input ({inp}); choose another output")
    real = Path(os.path.realpath(p))
    parent = real if folder and real.is_dir() else real.parent
    if not parent.exists():
        raise OutputPathError(p, f"folder {parent} does not exist (create it first)")
    if not parent.is_dir():
        raise OutputPathError(p, f"{parent} is not a folder")
    if probe:
        try:
            fd, tmp = _mkstemp(parent, real.name if not folder else "probe", ".probe")
        except OSError as exc:
            raise OutputPathError(p, f"cannot write in {parent} ({exc.strerror})") from None
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(tmp)
    return p


def _mkstemp(folder: Path, name: str, suffix: str) -> tuple[int, str]:
    tmp = folder / f".{name[:120]}{TEMP_MARK}{os.getpid()}-{secrets.token_hex(4)}{suffix[:16]}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o600)
    return fd, str(tmp)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temps(folder: str | Path) -> list[str]:
    """Remove temp files of our naming left in ``folder`` by processes that are gone."""
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    now = time.time()
    for e in entries:
        m = _TEMP_RE.match(e.name)
        if not m or int(m.group(1)) == os.getpid() or _pid_alive(int(m.group(1))):
            continue
        try:
            if e.is_file(follow_symlinks=False) and now - e.stat(follow_symlinks=False).st_mtime > STALE_AFTER_S:
                os.unlink(e.path)
                removed.append(e.path)
        except OSError:
            pass
    return removed


_GUARDIAN_CODE = r"""# neuro-deploy temp-file guardian
import os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_IGN)
live = set()
for line in sys.stdin.buffer:
    op, path = line[:1], os.fsdecode(bytes.fromhex(line[1:].strip().decode()))
    (live.add if op == b"+" else live.discard)(path)
for path in live:
    try:
        os.unlink(path)
    except OSError:
        pass
"""


class _Guardian:
    """The process that removes our temp files if we die without removing them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._proc: subprocess.Popen | None = None
        self._pid = -1
        self._failed = False

    def start(self) -> None:
        with self._lock:
            self._start()

    def _start(self) -> None:
        if self._failed or (self._proc is not None and self._pid == os.getpid()):
            return
        try:
            # its own session: Ctrl-C or a kill of our process group leaves it alive to
            # clean up; it ends as soon as every copy of our end of the pipe is closed
            self._proc = subprocess.Popen(
                [sys.executable, "-S", "-I", "-c", _GUARDIAN_CODE],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
            self._pid = os.getpid()
        except OSError:
            self._failed = True

    def _send(self, op: str, path: str) -> None:
        with self._lock:
            self._start()
            if self._failed or self._proc is None:
                return
            try:
                assert self._proc.stdin is not None
                self._proc.stdin.write(f"{op}{os.fsencode(path).hex()}\n".encode())
                self._proc.stdin.flush()
            except (OSError, ValueError):
                self._failed = True


_GUARDIAN = _Guardian()


@contextlib.contextmanager
def atomic_path(target: str | Path, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; move it into place only on success.

    The target is checked first (:func:`check_output`, without the probe: creating the
    temp file is the probe); a symlink is followed and its destination replaced.
    """
    target = Path(target)
    check_output(target, probe=False)
    real = Path(os.path.realpath(target))
    remove_stale_temps(real.parent)
    _GUARDIAN.start()  # before the temp exists: no window without it
    tmp: str | None = None
    try:
        try:
            fd, tmp = _mkstemp(real.parent, real.name, suffix or real.suffix or ".tmp")
            os.close(fd)
        except OSError as exc:
            raise OutputPathError(target, f"cannot write in {real.parent} ({exc.strerror})") from None
        _GUARDIAN._send("+", tmp)
        try:
            yield Path(tmp)
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)  # the temp is 0600; give the usual mode
            os.replace(tmp, real)
        except OSError as exc:
            if exc.errno in WRITE_ERRNOS:
                raise OutputPathError(target, f"cannot write ({os.strerror(exc.errno)})") from None
            raise
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            _GUARDIAN._send("-", tmp)


def write_text_atomic(target: str | Path, text: str) -> None:
    with atomic_path(target) as tmp:
        tmp.write_text(text)


def load_numpy(path: str | Path, what: str = "array file"):
    """``np.load`` (no pickles) of a user's ``.npy``/``.npz``; any failure to read it is a
    :class:`~neuro_deploy.errors.BadInputError` naming the file (a zip that is not one,
    a truncated array, a pickled object, a folder ...)."""
    import zipfile

    import numpy as np

    from neuro_deploy.errors import BadInputError

    p = Path(path)
    if not p.is_file():
        raise BadInputError(f"{what} {p} not found")
    try:
        return np.load(p, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, UnicodeError) as exc:
        raise BadInputError(f"{p}: cannot read {what} as .npy/.npz ({exc})") from None


def cache_dir() -> Path:
    """``$NEURO_DEPLOY_CACHE`` or ``~/.cache/neuro-deploy`` (created when missing)."""
    root = os.environ.get("NEURO_DEPLOY_CACHE") or Path.home() / ".cache" / "neuro-deploy"
    path = Path(root)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputPathError(
            path, f"cannot create the cache folder ({exc.strerror}); set NEURO_DEPLOY_CACHE to a writable folder"
        ) from None
    return path


def jsonable(obj: object) -> object:
    """Dataclasses, numpy arrays and scalars as plain JSON values (NaN -> null)."""
    from dataclasses import asdict, is_dataclass

    import numpy as np

    if is_dataclass(obj) and not isinstance(obj, type):
        return jsonable(asdict(obj))
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return jsonable(obj.item())
    if isinstance(obj, float) and obj != obj:
        return None
    return obj
