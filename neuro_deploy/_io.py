"""Small file helpers: atomic writes (no half-written output) and the cache folder."""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator


@contextlib.contextmanager
def atomic_path(target: str | Path, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; move it into place only on success."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix or target.suffix or ".tmp",
                               dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_path, 0o666 & ~umask)         # mkstemp makes 0600; give the usual mode
        os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_text_atomic(target: str | Path, text: str) -> None:
    with atomic_path(target) as tmp:
        tmp.write_text(text)


def cache_dir() -> Path:
    """``$NEURO_DEPLOY_CACHE`` or ``~/.cache/neuro-deploy``."""
    root = os.environ.get("NEURO_DEPLOY_CACHE") or Path.home() / ".cache" / "neuro-deploy"
    path = Path(root)
    path.mkdir(parents=True, exist_ok=True)
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
