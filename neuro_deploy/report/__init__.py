"""The per-model report: accuracy, latency, energy and the fit, as JSON, Markdown or HTML."""
from neuro_deploy.report.build import ModelReport, Workload, build_report, run_workload

__all__ = ["ModelReport", "Workload", "build_report", "run_workload"]
