"""Labelled event data sets: the embedded emulated digits and real N-MNIST folders."""

from neuro_deploy.data.datasets import DATASETS, EventDataset, load_dataset, read_labels

__all__ = ["DATASETS", "EventDataset", "load_dataset", "read_labels"]
