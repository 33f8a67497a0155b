"""The per-model report: accuracy, latency and energy and the fit, as JSON, Markdown or HTML.

This package is also the API call ``neuro_deploy.report(nets, ...)``
(:func:`neuro_deploy.report.compare.report`): Python binds an imported sub-package on its
parent under its name, which is the name of that call, so the package answers it.
"""

import sys
import types
from typing import Any

from neuro_deploy.report.build import ModelReport, Workload, build_report, run_workload
from neuro_deploy.report.compare import Report, report

__all__ = ["ModelReport", "Report", "Workload", "build_report", "report", "run_workload"]


class _CallablePackage(types.ModuleType):
    def __call__(self, *args: Any, **kwargs: Any) -> Report:
        return report(*args, **kwargs)


sys.modules[__name__].__class__ = _CallablePackage
