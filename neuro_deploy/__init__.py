"""neuro-deploy: spiking networks from event data to a simulated Intel Loihi 2.

The curated API (:mod:`neuro_deploy.api`), imported on first use so that ``import
neuro_deploy`` stays cheap (no numpy, torch or Lava until a function is called)::

    import neuro_deploy as nd

    data = nd.load_dataset("digits")
    model = nd.train(data, "out/api/model.pt", epochs=3)
    result = nd.deploy(model, data)      # export -> fit -> evaluate -> energy and latency
    result                               # a table in a notebook; print(result) elsewhere

Data: :func:`load_dataset`, :func:`read_events`. Models: :func:`train`, :func:`export`.
Hardware: :func:`fit`, :func:`run`, :func:`replay`, :func:`evaluate`, :func:`report`,
:func:`deploy`. Results: :class:`TrainedModel`, :class:`Evaluation`, :class:`Report`,
:class:`Deployment`; :class:`SplitWarning` when a score may include training samples.

Importing the package installs the Python 3.11 compatibility finder for lava-nc (see
:mod:`neuro_deploy._compat.lava_compat`) so that ``import lava...`` works afterwards on this
interpreter.
"""

from typing import Any

from neuro_deploy._compat import lava_compat as _lava_compat

_lava_compat.install()

__version__ = "0.1.0"
__all__ = [
    "Deployment",
    "Evaluation",
    "Report",
    "SplitWarning",
    "TrainedModel",
    "__version__",
    "deploy",
    "evaluate",
    "export",
    "fit",
    "load_dataset",
    "read_events",
    "replay",
    "report",
    "run",
    "train",
]


def __getattr__(name: str) -> Any:
    """The API's names, imported on first use (PEP 562)."""
    if name == "report":  # the report package answers the call (its docstring)
        import importlib

        return importlib.import_module("neuro_deploy.report")
    if name in __all__:
        from neuro_deploy import api

        value = getattr(api, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
