"""Compatibility shims for third-party packages (installed code is never edited)."""

import contextlib
import io
import logging
import warnings
from typing import Iterator


@contextlib.contextmanager
def quiet_imports() -> Iterator[None]:
    """Silence what lava-dl and torch print while importing (a Prophesee notice on
    stdout, a CUDA_HOME log line, deprecation warnings); real errors still raise."""
    log = logging.getLogger("torch.utils.cpp_extension")
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        log.setLevel(level)


def import_slayer():
    """Import lava-dl's slayer quietly (it prints a notice at import), after the Python 3.11
    shim for Lava (:mod:`neuro_deploy._compat.lava_compat`, idempotent), with SLAYER's
    leaky-integrator dynamics on numba kernels (:mod:`neuro_deploy._compat.slayer_dynamics`)."""
    from neuro_deploy._compat import lava_compat

    lava_compat.install()
    with quiet_imports():
        import lava.lib.dl.slayer as slayer
    from neuro_deploy._compat import slayer_dynamics

    slayer_dynamics.install()  # time-major CPU loops of the leaky integrators, identical integers
    return slayer
