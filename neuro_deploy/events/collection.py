"""Many recordings at once: files and folders, read under an error policy.

``replay`` and ``report --recordings`` read their inputs here, so both treat a bad file
the same way (``--on-error``):

* ``fail`` (default) - the first unreadable recording stops everything with its typed error;
* ``skip`` - an unreadable recording (unrecognised, corrupt, truncated, implausible) is left
  out and listed in :class:`Skipped` with the reason;
* ``keep-partial`` - as ``skip``, except that a recording damaged part-way (e.g. truncated)
  keeps its complete events before the damage (``Recording.meta["partial"]``: byte offset,
  reason, events kept); what cannot be decoded at all is still skipped.

Errors that are not about one file (an unknown ``--format`` name, a missing dependency)
always stop. When every recording is skipped there is nothing to run: that is an error too.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from neuro_deploy.errors import BadInputError, CorruptRecordingError, UnknownFormatError
from neuro_deploy.events.readers import Recording, read_events
from neuro_deploy.events.types import SensorSize

#: extensions a folder contributes (files named explicitly are read whatever their name)
RECORDING_SUFFIXES = (
    ".bin",
    ".bs2",
    ".raw",
    ".dat",
    ".aedat",
    ".aedat3",
    ".aedat4",
    ".es",
    ".npy",
    ".npz",
    ".h5",
    ".hdf5",
    ".csv",
)
ON_ERROR = ("fail", "skip", "keep-partial")


@dataclass(frozen=True)
class Skipped:
    """A recording left out, and why (the typed error's message and class)."""

    file: str
    reason: str
    error: str


def expand_inputs(paths: list[str | Path]) -> list[Path]:
    """Files as given; folders contribute their recordings (sorted naturally)."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            files = [
                f
                for f in p.rglob("*")
                if f.is_file() and f.suffix.lower() in RECORDING_SUFFIXES and not f.name.endswith(".reference.npy")
            ]
            out += sorted(files, key=lambda f: (str(f.parent), len(f.stem), f.stem))
        elif p.exists():
            out.append(p)
        else:
            raise BadInputError(f"{p}: no such recording or folder")
    if not out:
        raise BadInputError("no recordings found in " + ", ".join(map(str, paths)))
    return out


def read_recordings(
    paths: list[str | Path],
    on_error: str = "fail",
    fmt: str | None = None,
    sensor_size: SensorSize | None = None,
    **options: str,
) -> tuple[list[Recording], list[Skipped]]:
    """Read every recording of ``paths`` (files or folders) under the ``on_error`` policy
    (module docstring): the recordings read, in input order, and those skipped."""
    if on_error not in ON_ERROR:
        from neuro_deploy.errors import UnknownNameError

        raise UnknownNameError("--on-error policy", on_error, ON_ERROR)
    recordings: list[Recording] = []
    skipped: list[Skipped] = []
    for f in expand_inputs(paths):
        try:
            recordings.append(
                read_events(f, fmt, sensor_size=sensor_size, keep_partial=on_error == "keep-partial", **options)
            )
        except (CorruptRecordingError, UnknownFormatError) as exc:
            if on_error == "fail":
                raise
            skipped.append(Skipped(str(f), str(exc), type(exc).__name__))
    if not recordings:
        raise BadInputError(
            f"all {len(skipped)} recordings were skipped (--on-error {on_error}); first: {skipped[0].reason}"
        )
    return recordings, skipped
