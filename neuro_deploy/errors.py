"""Typed errors for bad input, each naming the thing at fault.

Exit codes used by the CLI (stable): 0 ok, 1 internal error, 2 bad input / usage,
3 does not fit the hardware profile (:class:`ResourceLimitError`), 4 a required
dependency is broken (:class:`EnvironmentProblem`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable


class NeuroDeployError(Exception):
    """Base of every error neuro-deploy raises on purpose."""

    exit_code: int = 2

    def __reduce__(self) -> tuple:
        # Pickled as (class, message, attributes), not by calling __init__ again with the
        # message: errors raised in worker processes or on Ray reach the caller as themselves.
        return (_rebuild_error, (type(self), self.args, self.__dict__))


def _rebuild_error(cls: type, args: tuple, state: dict) -> NeuroDeployError:
    err = cls.__new__(cls, *args)
    err.args = args
    err.__dict__.update(state)
    return err


class NeuroDeployWarning(UserWarning):
    """Input that is usable but probably not what was meant (the CLI prints one line)."""


class BadInputError(NeuroDeployError):
    """A file, argument or array that cannot be used as given."""


class DatasetError(BadInputError):
    """A data set root or labels file is missing or malformed."""


class CheckpointError(BadInputError):
    """A model checkpoint cannot be read."""


class UnknownNameError(BadInputError):
    """A name (target, backend, format, method, ...) that no registry knows."""

    def __init__(self, kind: str, name: str, known: Iterable[str]) -> None:
        self.kind, self.name, self.known = kind, name, sorted(known)
        super().__init__(f"unknown {kind} {name!r}; supported: {', '.join(self.known)}")


class ShapeError(BadInputError):
    """An array whose shape does not match what the network expects."""

    def __init__(self, what: str, expected: tuple, given: tuple) -> None:
        self.what, self.expected, self.given = what, tuple(expected), tuple(given)
        super().__init__(f"{what}: expected shape {self.expected}, given {self.given}")


class NetxFormatError(BadInputError):
    """A netx HDF5 file that is unreadable or malformed."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path, self.reason = str(path), reason
        super().__init__(f"{path}: {reason}")


class UnsupportedLayerError(BadInputError):
    """A layer (or neuron model) type that neuro-deploy cannot map or simulate."""

    def __init__(self, index: int | str, layer_type: str, supported: Iterable[str], detail: str = "") -> None:
        self.index, self.layer_type, self.supported = index, layer_type, sorted(supported)
        extra = f" ({detail})" if detail else ""
        super().__init__(
            f"layer {index}: unsupported type {layer_type!r}{extra}; supported: {', '.join(self.supported)}"
        )


class CorruptRecordingError(BadInputError):
    """An event recording that is truncated or corrupt."""

    def __init__(self, path: str | Path, offset: int | None, reason: str) -> None:
        self.path, self.offset, self.reason = str(path), offset, reason
        where = f" at byte {offset}" if offset is not None else ""
        super().__init__(f"{path}{where}: {reason}")


class UnknownFormatError(BadInputError):
    """A recording whose format is not recognised."""

    def __init__(self, path: str | Path, supported: Iterable[str]) -> None:
        self.path, self.supported = str(path), sorted(supported)
        super().__init__(f"{path}: unknown event format; supported: {', '.join(self.supported)}")


class UnidentifiedRecordingError(UnknownFormatError):
    """A recording whose header or signature names no supported format (and no ``--format``
    was given); ``looks_like`` says what the bytes look like instead."""

    def __init__(self, path: str | Path, looks_like: str, supported: Iterable[str]) -> None:
        self.path, self.looks_like, self.supported = str(path), looks_like, sorted(supported)
        BadInputError.__init__(
            self,
            f"{path}: not a recognised event recording: it looks like {looks_like}; "
            f"supported: {', '.join(self.supported)} (pass --format NAME to force a reader)",
        )


class ImplausibleRecordingError(CorruptRecordingError):
    """Decoded events that no camera can produce (outside the sensor, time running
    backwards, more events in one microsecond than pixels): garbage, not a recording."""


class ProfileError(BadInputError):
    """A hardware profile that fails validation (the field is named)."""

    def __init__(self, path: str | Path, field: str, reason: str) -> None:
        self.path, self.field, self.reason = str(path), field, reason
        super().__init__(f"{path}: field {field!r}: {reason}")


class OutputPathError(BadInputError):
    """An output destination that cannot or must not be written (the reason says why)."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path, self.reason = str(path), reason
        super().__init__(f"output {path}: {reason}")

    def __reduce__(self):  # picklable across worker processes
        return (type(self), (self.path, self.reason))


class ResourceLimitError(NeuroDeployError):
    """A model that exceeds a hard limit of the hardware profile."""

    exit_code = 3

    def __init__(self, layer: str, resource: str, used: float, limit: float) -> None:
        self.layer, self.resource, self.used, self.limit = layer, resource, used, limit
        super().__init__(f"{layer}: {resource} {used} exceeds the limit {limit}")


class EnvironmentProblem(NeuroDeployError):
    """A required dependency is missing or broken; the message says the fix."""

    exit_code = 4
