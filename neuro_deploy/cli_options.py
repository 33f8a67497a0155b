"""Shared pieces of the command line: parameter types, choices read from the
registries, the output policy and the options every command has.

One input policy: every numeric option has a click range (:data:`POSITIVE_INT`, ...),
every name with a registry is a :class:`RegistryChoice` (listed in ``--help``), and
structured values (``WxH``, ``X0,Y0,W,H``, ``128,64``) have their own type - so bad
values stop at parsing with click's usage error (exit 2) naming the option.
One output policy: :func:`writes_output` checks a command's destination
(:func:`neuro_deploy._io.check_output`) before the command does any work.
"""

from __future__ import annotations

import contextlib
import functools
from typing import Any, Callable, Iterable, Iterator

import click

# ------------------------------------------------------------------ numeric ranges
POSITIVE_INT = click.IntRange(min=1)
NON_NEGATIVE_INT = click.IntRange(min=0)
SEED = click.IntRange(0, 2**32 - 1)
POSITIVE_FLOAT = click.FloatRange(min=0, min_open=True)
#: (0, 1): a held-out fraction must leave samples on both sides
OPEN_FRACTION = click.FloatRange(0, 1, min_open=True, max_open=True)
#: (0, 1]
FRACTION = click.FloatRange(0, 1, min_open=True)
#: (0, 1]: spatial downsampling factor (1 = unchanged)
DOWNSAMPLE = click.FloatRange(0, 1, min_open=True)


class RegistryChoice(click.Choice):
    """A ``click.Choice`` whose names come from a registry, read when first needed
    (help, parsing), so that importing the CLI stays cheap."""

    def __init__(self, names: Callable[[], Iterable[str]]) -> None:
        self._names = names
        self._cached: tuple[str, ...] | None = None
        super().__init__((), case_sensitive=True)

    @property  # type: ignore[override]
    def choices(self) -> tuple[str, ...]:
        if self._cached is None:
            self._cached = tuple(sorted(self._names()))
        return self._cached

    @choices.setter
    def choices(self, value: Iterable[str]) -> None:  # click's __init__ assigns ()
        pass


def backend_names() -> list[str]:
    from neuro_deploy.sim.base import backend_names as names

    return names()


def dataset_names() -> list[str]:
    from neuro_deploy.data.datasets import DATASETS

    return list(DATASETS)


def target_names() -> list[str]:
    from neuro_deploy.api import TARGETS

    return list(TARGETS)


def event_format_names() -> list[str]:
    from neuro_deploy.events.readers import READERS, supported_formats

    supported_formats()  # loads the readers
    return list(READERS)


def arch_names() -> list[str]:
    from neuro_deploy.models.arch import ARCHS

    return list(ARCHS)


def budget_names() -> list[str]:
    from neuro_deploy.data.distill import BUDGETS

    return list(BUDGETS)


BACKEND = RegistryChoice(backend_names)
ARCH = RegistryChoice(arch_names)
DISTILL_BUDGET = RegistryChoice(budget_names)
DATASET = RegistryChoice(dataset_names)
TARGET = RegistryChoice(target_names)
EVENT_FORMAT = RegistryChoice(event_format_names)


# ------------------------------------------------------------------ structured values
class _Checked(click.ParamType):
    """Validates the text and passes it on unchanged (the command parses it)."""

    def check(self, text: str) -> None:
        raise NotImplementedError

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if value is None or not isinstance(value, str):
            return value
        try:
            self.check(value)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)
        return value


class SensorSizeType(_Checked):
    name = "WxH"

    def check(self, text: str) -> None:
        parts = text.lower().split("x")
        try:
            w, h = (int(v) for v in parts)
        except ValueError:
            raise ValueError(f"{text!r} is not WxH (e.g. 34x34)") from None
        if w < 1 or h < 1:
            raise ValueError(f"{text!r}: width and height must be >= 1")


class CropType(_Checked):
    name = "X0,Y0,W,H"

    def check(self, text: str) -> None:
        try:
            x0, y0, w, h = (int(v) for v in text.split(","))
        except ValueError:
            raise ValueError(f"{text!r} is not X0,Y0,W,H (four integers)") from None
        if x0 < 0 or y0 < 0 or w < 1 or h < 1:
            raise ValueError(f"{text!r}: X0, Y0 must be >= 0 and W, H >= 1")


class WidthsType(_Checked):
    name = "N[,N...]"

    def check(self, text: str) -> None:
        items = [v.strip() for v in text.split(",") if v.strip()]
        try:
            widths = [int(v) for v in items]
        except ValueError:
            raise ValueError(f"{text!r} is not a comma-separated list of integers") from None
        if any(w < 1 for w in widths):
            raise ValueError(f"{text!r}: every width must be >= 1")


SENSOR_SIZE = SensorSizeType()
CROP = CropType()
WIDTHS = WidthsType()


# ------------------------------------------------------------------ output policy
def _path_params(ctx: click.Context) -> list[str]:
    return [p.name for p in ctx.command.params if isinstance(p.type, click.Path) and p.name]


def writes_output(
    param: str = "out", *, folder: bool | Callable[[str], bool] = False, parents_if_default: bool = False
) -> Callable:
    """Check the command's output (``param``) before it runs: folder exists and takes
    files, not a directory (unless ``folder``), not a device, not one of the command's
    inputs (every other ``click.Path`` parameter). ``folder`` may be a function of the
    value (an ``.npz`` file or a folder of recordings). ``parents_if_default``: the option's
    default value may create its parent folders (``demo --out out/demo``); a value the
    user gave never does."""

    def deco(f: Callable) -> Callable:
        @functools.wraps(f)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            from pathlib import Path

            from neuro_deploy._io import check_output

            out = kwargs.get(param)
            if out is not None:
                ctx = click.get_current_context()
                inputs: list[str] = []
                for name in _path_params(ctx):
                    if name == param or kwargs.get(name) is None:
                        continue
                    v = kwargs[name]
                    inputs += [str(x) for x in v] if isinstance(v, (tuple, list)) else [str(v)]
                if (
                    parents_if_default
                    and ctx.get_parameter_source(param) == click.core.ParameterSource.DEFAULT
                    and not Path(out).exists()
                ):
                    Path(out).parent.mkdir(parents=True, exist_ok=True)
                check_output(out, inputs, folder=folder(out) if callable(folder) else folder)
            return f(*args, **kwargs)

        wrapper.writes_output = param  # type: ignore[attr-defined]  (tests find writers)
        return wrapper

    return deco


# ------------------------------------------------------------------ run time of a command
@contextlib.contextmanager
def command_runtime() -> Iterator[None]:
    """What every command runs inside: forked children leave Ctrl-C to us and die with
    us (:func:`neuro_deploy._process.child_policy`), SIGTERM raises like Ctrl-C, and
    :class:`~neuro_deploy.errors.NeuroDeployWarning` prints as one ``warning:`` line."""
    import warnings

    from neuro_deploy._process import child_policy, signals_raise
    from neuro_deploy.errors import NeuroDeployWarning

    with warnings.catch_warnings(), child_policy(), signals_raise():
        original = warnings.showwarning

        def show(message: Any, category: type, filename: str, lineno: int, file: Any = None, line: Any = None) -> None:
            if issubclass(category, NeuroDeployWarning):
                click.echo(f"warning: {message}", err=True)
            else:
                original(message, category, filename, lineno, file, line)

        warnings.showwarning = show
        warnings.simplefilter("always", NeuroDeployWarning)
        yield


# ------------------------------------------------------------------ on every command
def _set_quiet(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:
        from neuro_deploy._progress import set_quiet

        previous = set_quiet(True)
        ctx.call_on_close(lambda: set_quiet(previous))


def quiet_option() -> click.Option:
    return click.Option(
        ["-q", "--quiet"],
        is_flag=True,
        expose_value=False,
        is_eager=True,
        callback=_set_quiet,
        help="No progress reports (errors and warnings still print).",
    )


def walk_commands(group: click.Group, prefix: tuple[str, ...] = ()) -> Iterable[tuple[tuple[str, ...], click.Command]]:
    """(path, command) for every command under ``group``, groups included."""
    for name, cmd in sorted(group.commands.items()):
        yield prefix + (name,), cmd
        if isinstance(cmd, click.Group):
            yield from walk_commands(cmd, prefix + (name,))


def add_common_options(group: click.Group) -> None:
    """Give every (leaf) command ``--quiet``."""
    for _, cmd in walk_commands(group):
        if not isinstance(cmd, click.Group) and not any(p.name == "quiet" for p in cmd.params):
            cmd.params.append(quiet_option())
