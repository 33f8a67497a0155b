"""Spiking models: lava-dl SLAYER CUBA networks, their training and checkpoints."""

from neuro_deploy.models.slayer_model import (
    ModelConfig,
    TrainConfig,
    TrainResult,
    build_model,
    load_checkpoint,
    save_checkpoint,
    train_model,
)

__all__ = [
    "ModelConfig",
    "TrainConfig",
    "TrainResult",
    "build_model",
    "load_checkpoint",
    "save_checkpoint",
    "train_model",
]
