"""Make the installed lava-nc 0.10.0 import and run on Python >= 3.11, unchanged on disk.

Three fixes, each tied to one Lava module and applied when that module is imported:

1. ``lava.magma.compiler.var_model`` (Python >= 3.11): dataclass instance defaults.
2. ``lava.magma.runtime.message_infrastructure.multiprocessing`` (any Python): the
   module calls ``multiprocessing.set_start_method('fork')`` at import, which raises
   ``RuntimeError: context has already been set`` once anything in the process has
   touched the default context (a ``tqdm`` progress bar creates a multiprocessing lock,
   for instance). While that module executes, ``set_start_method`` becomes a no-op when
   the start method already is the one asked for; any other conflict still raises.
3. ``lava.lib.dl.slayer.block.base`` (lava-dl 0.6.0, any Python): a dense block's
   ``export_hdf5`` writes ``neuron.shape``, which SLAYER only sets during the first
   forward pass, so exporting a freshly built or loaded dense network crashes inside
   h5py (``Object dtype dtype('O') has no native HDF5 equivalent``) and leaves a
   half-written file. After the module has executed, ``AbstractDense.export_hdf5`` is
   wrapped to fill ``neuron.shape = (out_features,)`` - what the forward pass would set -
   when it is still unset. Conv shapes depend on the input size and are left alone.

Fix 1
-----
``lava/magma/compiler/var_model.py`` declares dataclass fields whose default is an
*instance* of another dataclass::

    @dataclass
    class CoreEncoder:
        x: ByteEncoder = ByteEncoder()

Python 3.11 rejects any unhashable default (``dataclasses._get_field`` raises
``ValueError: mutable default ... use default_factory``); a plain ``@dataclass`` sets
``__hash__ = None``, so every ``import lava...`` that reaches the compiler fails.

The fix
-------
A :class:`importlib.abc.MetaPathFinder` wraps the loader of exactly that module. While
the module body executes, ``dataclasses.dataclass`` is replaced by a wrapper that turns
each class attribute whose value is a dataclass *instance* into
``field(default_factory=lambda: copy.deepcopy(value))`` before the real decorator runs -
what the authors meant, and what 3.10 did except that each instance now gets its own
copy instead of a shared mutable one. The original decorator is restored as soon as the
module has executed, so nothing else in the interpreter is affected.

Worker processes: Lava starts its runtime and process-model workers with the ``fork``
start method, so they inherit the already imported (fixed) modules. The finder is also
installed by ``import neuro_deploy`` in any freshly spawned interpreter, so a ``spawn``
child that imports ``neuro_deploy`` before Lava is covered too.

:func:`install` is idempotent and cheap (it imports nothing heavy). On Python < 3.11
fix 1 does nothing (Lava's dataclasses import as they are there).
"""

from __future__ import annotations

import copy
import dataclasses
import importlib.abc
import importlib.machinery
import sys
import types
from typing import Any, Callable

import contextlib
import multiprocessing
from typing import Iterator


def _instance_defaults_to_factories(cls: type) -> type:
    """Replace class attributes that are dataclass instances by ``default_factory`` fields."""
    for name in getattr(cls, "__annotations__", {}):
        value = cls.__dict__.get(name, dataclasses.MISSING)
        if (
            value is not dataclasses.MISSING
            and not isinstance(value, dataclasses.Field)
            and dataclasses.is_dataclass(value)
            and not isinstance(value, type)
            and type(value).__hash__ is None
        ):
            setattr(cls, name, dataclasses.field(default_factory=lambda v=value: copy.deepcopy(v)))
    return cls


def _tolerant_dataclass(original: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap ``dataclasses.dataclass`` (used bare or with arguments)."""

    def wrapper(cls: type | None = None, /, **kwargs: Any) -> Any:
        if cls is None:
            return lambda c: original(_instance_defaults_to_factories(c), **kwargs)
        return original(_instance_defaults_to_factories(cls), **kwargs)

    wrapper.__wrapped__ = original  # type: ignore[attr-defined]
    return wrapper


@contextlib.contextmanager
def _dataclass_defaults_fix(module: types.ModuleType) -> Iterator[None]:
    original = dataclasses.dataclass
    if sys.version_info >= (3, 11):
        dataclasses.dataclass = _tolerant_dataclass(original)
    try:
        yield
    finally:
        dataclasses.dataclass = original


@contextlib.contextmanager
def _start_method_fix(module: types.ModuleType) -> Iterator[None]:
    original = multiprocessing.set_start_method

    def tolerant(method: str | None, force: bool = False) -> None:
        if not force and multiprocessing.get_start_method(allow_none=True) == method:
            return
        original(method, force=force)

    multiprocessing.set_start_method = tolerant  # type: ignore[assignment]
    try:
        yield
    finally:
        multiprocessing.set_start_method = original  # type: ignore[assignment]


@contextlib.contextmanager
def _dense_export_shape_fix(module: types.ModuleType) -> Iterator[None]:
    yield
    dense = getattr(module, "AbstractDense", None)
    if dense is None or getattr(dense.export_hdf5, "_neuro_deploy_fixed", False):
        return
    original = dense.export_hdf5

    def export_hdf5(self, handle):  # type: ignore[no-untyped-def]
        if getattr(self.neuron, "shape", None) is None and self.synapse is not None:
            self.neuron.shape = (int(self.synapse.out_channels),)
        return original(self, handle)

    export_hdf5._neuro_deploy_fixed = True  # type: ignore[attr-defined]
    export_hdf5.__doc__ = original.__doc__
    dense.export_hdf5 = export_hdf5


#: Lava modules and the fix applied around (or right after) each one's body executing.
PATCHES: dict[str, Callable[[types.ModuleType], contextlib.AbstractContextManager]] = {
    "lava.magma.compiler.var_model": _dataclass_defaults_fix,
    "lava.magma.runtime.message_infrastructure.multiprocessing": _start_method_fix,
    "lava.lib.dl.slayer.block.base": _dense_export_shape_fix,
}
PATCHED_MODULES = frozenset(PATCHES)


class _PatchingLoader(importlib.abc.Loader):
    """Delegates to the real loader with the module's fix in place."""

    def __init__(
        self, inner: importlib.abc.Loader, fix: Callable[[types.ModuleType], contextlib.AbstractContextManager]
    ) -> None:
        self._inner = inner
        self._fix = fix

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        return self._inner.create_module(spec)

    def exec_module(self, module: types.ModuleType) -> None:
        with self._fix(module):
            self._inner.exec_module(module)


class LavaPy311Finder(importlib.abc.MetaPathFinder):
    """Meta-path finder that only intercepts :data:`PATCHED_MODULES`."""

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if fullname not in PATCHED_MODULES:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None and spec.loader is not None:
                spec.loader = _PatchingLoader(spec.loader, PATCHES[fullname])
                return spec
        return None


def install() -> bool:
    """Install the finder once (idempotent); returns True."""
    if not any(isinstance(f, LavaPy311Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, LavaPy311Finder())
    return True


def abandon_runtime(process: Any) -> None:
    """Tear down the Lava runtime of ``process`` after an interrupt, without the
    STOP handshake.

    ``Runtime.stop`` sends STOP and waits for every runtime service to answer; after a
    ``KeyboardInterrupt`` inside ``run`` the channel protocol may be mid-message and
    that wait can last forever (lava 0.10: ``Runtime.stop`` and ``MultiProcessing.stop``
    join actors unconditionally). Here the actor processes are killed, the
    shared-memory manager is shut down normally (it ignores SIGINT and unlinks its
    segments), and the runtime is marked stopped so that its ``__del__`` does not try
    again. Lava private attributes used: ``Runtime._messaging_infrastructure``,
    ``Runtime._is_started``, ``Runtime._is_running``.
    """
    import contextlib

    runtime = getattr(process, "runtime", None)
    if runtime is None:
        return
    infra = getattr(runtime, "_messaging_infrastructure", None)
    actors = list(getattr(infra, "actors", []) or [])
    for actor in actors:
        with contextlib.suppress(Exception):
            actor.kill()
    for actor in actors:
        with contextlib.suppress(Exception):
            multiprocessing.Process.join(actor, 2.0)  # SystemProcess.join takes no timeout
    smm = getattr(infra, "smm", None)
    if smm is not None:
        with contextlib.suppress(Exception):
            smm.shutdown()
    with contextlib.suppress(Exception):
        runtime._is_started = False
        runtime._is_running = False
