"""Progress reports, on stderr: a tqdm bar on a terminal, plain lines in logs, or nothing.

* stderr is a terminal: a ``tqdm`` bar (it redraws itself with carriage returns);
* stderr is a file or pipe (CI logs, ``2> log``): one plain line each time another
  :data:`LINE_STEP_PCT` percent is done (``replay: 40% (4/10 recordings, 3.1 s)``), so
  a log holds at most about ``100 / LINE_STEP_PCT + 1`` lines per bar and no ``\\r``;
* :func:`set_quiet` (the CLI's ``--quiet``): nothing.

Deep code reports through :func:`tick`, which advances the innermost open bar (also
from a worker process: :mod:`neuro_deploy._process` forwards a worker's ticks to its
parent's bar).
"""

from __future__ import annotations

import contextlib
import sys
import time
from typing import Any, Callable, Iterable, Iterator, TextIO

LINE_STEP_PCT = 10

_state: dict[str, Any] = {"quiet": False, "sinks": []}


def set_quiet(quiet: bool) -> bool:
    """Turn every progress report off (True) or on; returns the previous setting."""
    previous = _state["quiet"]
    _state["quiet"] = bool(quiet)
    return previous


def is_quiet() -> bool:
    return bool(_state["quiet"])


class LineProgress:
    """tqdm's subset used here (update, set_postfix, close, iteration), as plain lines."""

    def __init__(
        self,
        iterable: Iterable | None = None,
        total: int | None = None,
        desc: str = "",
        unit: str = "it",
        file: TextIO | None = None,
        **_: Any,
    ) -> None:
        self.iterable = iterable
        if total is None and iterable is not None and hasattr(iterable, "__len__"):
            total = len(iterable)  # type: ignore[arg-type]
        self.total, self.desc, self.unit = total, desc, unit
        self.file = file
        self.n = 0
        self._next_pct = LINE_STEP_PCT
        self._postfix = ""
        self._t0 = time.perf_counter()
        self._closed = False

    def _emit(self, pct: int) -> None:
        out = self.file or sys.stderr
        total = f"/{self.total}" if self.total else ""
        post = f", {self._postfix}" if self._postfix else ""
        print(
            f"{self.desc}: {pct}% ({self.n}{total} {self.unit}, {time.perf_counter() - self._t0:.1f} s{post})",
            file=out,
            flush=True,
        )

    def update(self, n: int = 1) -> None:
        self.n += n
        if not self.total:
            return
        pct = int(100 * self.n / self.total)
        if pct >= self._next_pct:
            self._emit(min(pct, 100))
            self._next_pct = (pct // LINE_STEP_PCT + 1) * LINE_STEP_PCT

    def set_postfix(self, *args: Any, **kwargs: Any) -> None:
        items = dict(*args, **kwargs) if args or kwargs else {}
        self._postfix = ", ".join(f"{k}={v}" for k, v in items.items())

    def close(self) -> None:
        if not self._closed and self.total and self._next_pct <= 100 and self.n >= self.total:
            self._emit(100)
        self._closed = True

    def __iter__(self) -> Iterator:
        assert self.iterable is not None
        try:
            for item in self.iterable:
                yield item
                self.update(1)
        finally:
            self.close()

    def __enter__(self) -> "LineProgress":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class NullProgress(LineProgress):
    def _emit(self, pct: int) -> None:
        pass


def progress_bar(
    iterable: Iterable | None = None,
    total: int | None = None,
    desc: str = "",
    unit: str = "it",
    enabled: bool = True,
    **kwargs: Any,
) -> Any:
    """A tqdm-compatible bar following the module's rules (terminal / log / quiet)."""
    if not enabled or is_quiet():
        return NullProgress(iterable, total=total, desc=desc, unit=unit)
    stream = sys.stderr
    if getattr(stream, "isatty", lambda: False)():
        from tqdm import tqdm

        return tqdm(iterable, total=total, desc=desc, unit=unit, file=stream, **kwargs)
    return LineProgress(iterable, total=total, desc=desc, unit=unit, file=stream)


@contextlib.contextmanager
def task(total: int, desc: str, unit: str = "it", enabled: bool = True) -> Iterator[Any]:
    """A bar that :func:`tick` with the same ``unit`` advances while the block runs."""
    bar = progress_bar(total=total, desc=desc, unit=unit, enabled=enabled)
    entry = (unit, bar.update)
    _state["sinks"].append(entry)
    try:
        yield bar
    finally:
        _state["sinks"].remove(entry)
        bar.close()


def tick(n: int = 1, unit: str = "it") -> None:
    """Advance the innermost :func:`task` bar counting ``unit`` (Lava's simulated steps do
    not move a bar of recordings), or forward to the parent's bars from a worker."""
    for sink_unit, update in reversed(_state["sinks"]):
        if sink_unit == unit:
            update(n)
            return
        if sink_unit == "*":  # a worker forwarding to its parent
            update(n, unit)
            return


@contextlib.contextmanager
def forward_ticks(send: Callable[[int, str], None]) -> Iterator[None]:
    """Send this process's ticks elsewhere (a worker's pipe to its parent)."""
    saved = list(_state["sinks"])
    _state["sinks"][:] = [("*", send)]
    try:
        yield
    finally:
        _state["sinks"][:] = saved
