"""Input files sent along with a task, so that workers need no shared file system.

A :class:`ShippedFile` carries a small file's bytes and its SHA-256. On the worker,
:meth:`ShippedFile.local_path` returns the original path when that file exists there with
the same content (one machine, or a shared file system), else a copy written once per
content under the cache folder (``$NEURO_DEPLOY_CACHE/shipped/<sha256><suffix>``,
atomically, so concurrent tasks on one node do not race).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ShippedFile:
    path: str  #: where the file was read (on the machine that sent it)
    sha256: str
    data: bytes

    @classmethod
    def read(cls, path: str | Path) -> "ShippedFile":
        data = Path(path).read_bytes()
        return cls(str(path), hashlib.sha256(data).hexdigest(), data)

    def local_path(self) -> Path:
        """A path on this machine holding exactly these bytes."""
        p = Path(self.path)
        try:
            if (
                p.is_file()
                and p.stat().st_size == len(self.data)
                and hashlib.sha256(p.read_bytes()).hexdigest() == self.sha256
            ):
                return p
        except OSError:
            pass
        from neuro_deploy._io import atomic_path, cache_dir

        copy = cache_dir() / "shipped" / f"{self.sha256}{p.suffix}"
        copy.parent.mkdir(parents=True, exist_ok=True)
        if not copy.is_file():
            with atomic_path(copy) as tmp:
                tmp.write_bytes(self.data)
        return copy
