"""numba's threading layer, chosen once for every module with parallel kernels."""

from __future__ import annotations

import os


def fork_safe_numba() -> None:
    """Make numba's parallel loops use its ``workqueue`` threading layer unless
    ``NUMBA_THREADING_LAYER`` says otherwise. Every module with ``parallel=True`` kernels calls
    it before its first kernel runs: the first parallel launch fixes the layer for the process,
    and with GNU OpenMP a later fork aborts it ("fork() called from a process already using
    GNU OpenMP"); Lava and ``replay --workers`` fork. (A replay on Lava that counted activity
    - :mod:`neuro_deploy.energy.kernels` - before anything had set the layer aborted its next
    Lava run that way.)"""
    if "NUMBA_THREADING_LAYER" not in os.environ:
        import numba

        numba.config.THREADING_LAYER = "workqueue"
