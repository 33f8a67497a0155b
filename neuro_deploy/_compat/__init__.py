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
