"""Make the installed lava-nc 0.10.0 import and run on Python >= 3.11, unchanged on disk.

The problem
-----------
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

:func:`install` is idempotent and cheap (it imports nothing heavy); it is a no-op on
Python < 3.11 where Lava imports as it is.
"""
from __future__ import annotations

import copy
import dataclasses
import importlib.abc
import importlib.machinery
import sys
import types
from typing import Any, Callable

#: Modules of lava-nc that need the dataclass-default fix on Python >= 3.11.
PATCHED_MODULES: frozenset[str] = frozenset({"lava.magma.compiler.var_model"})


def _instance_defaults_to_factories(cls: type) -> type:
    """Replace class attributes that are dataclass instances by ``default_factory`` fields."""
    for name in getattr(cls, "__annotations__", {}):
        value = cls.__dict__.get(name, dataclasses.MISSING)
        if (value is not dataclasses.MISSING and not isinstance(value, dataclasses.Field)
                and dataclasses.is_dataclass(value) and not isinstance(value, type)
                and type(value).__hash__ is None):
            setattr(cls, name, dataclasses.field(
                default_factory=lambda v=value: copy.deepcopy(v)))
    return cls


def _tolerant_dataclass(original: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap ``dataclasses.dataclass`` (used bare or with arguments)."""
    def wrapper(cls: type | None = None, /, **kwargs: Any) -> Any:
        if cls is None:
            return lambda c: original(_instance_defaults_to_factories(c), **kwargs)
        return original(_instance_defaults_to_factories(cls), **kwargs)
    wrapper.__wrapped__ = original  # type: ignore[attr-defined]
    return wrapper


class _PatchingLoader(importlib.abc.Loader):
    """Delegates to the real loader with the tolerant decorator in place."""

    def __init__(self, inner: importlib.abc.Loader) -> None:
        self._inner = inner

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        return self._inner.create_module(spec)

    def exec_module(self, module: types.ModuleType) -> None:
        original = dataclasses.dataclass
        dataclasses.dataclass = _tolerant_dataclass(original)
        try:
            self._inner.exec_module(module)
        finally:
            dataclasses.dataclass = original


class LavaPy311Finder(importlib.abc.MetaPathFinder):
    """Meta-path finder that only intercepts :data:`PATCHED_MODULES`."""

    def find_spec(self, fullname: str, path: Any, target: Any = None
                  ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in PATCHED_MODULES:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None and spec.loader is not None:
                spec.loader = _PatchingLoader(spec.loader)
                return spec
        return None


def needed() -> bool:
    """True on the Python versions where Lava 0.10 fails to import without the fix."""
    return sys.version_info >= (3, 11)


def install() -> bool:
    """Install the finder once; return True when it is active."""
    if not needed():
        return False
    if not any(isinstance(f, LavaPy311Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, LavaPy311Finder())
    return True
