"""Named SLAYER CUBA architectures for event frames, by name (``train --arch``).

* ``dense``: flatten -> 128 -> classes (the original default);
* ``conv``: two strided convolutions, then dense: for 2x34x34 N-MNIST frames
  ``8c5s2`` (8 x 17 x 17) -> ``16c3s2`` (16 x 9 x 9) -> 64 -> classes. Strided
  convolutions instead of pooling: lava-dl's netx reader has no ``pool`` layer
  (``lava.lib.dl.netx.hdf5.Network`` builds input, dense, conv and flatten only), and a
  stride-2 conv halves the map as a 2x2 pool would, with learned weights.

Both are ``slayer.block.cuba`` stacks (:func:`neuro_deploy.models.slayer_model.build_model`)
that export to netx (``export --target loihi2-sim``) and run bit-exactly on the fast
backend and in Lava. An architecture is data (a :class:`ModelConfig`'s ``conv`` and
``hidden``), so teachers, students, snapshots and checkpoints of either work everywhere a
model does.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from neuro_deploy.errors import UnknownNameError
from neuro_deploy.models.slayer_model import ModelConfig


@dataclass(frozen=True)
class Arch:
    name: str
    conv: tuple[tuple[int, int, int], ...]  #: (out_channels, kernel, stride) per conv
    hidden: tuple[int, ...]  #: dense hidden widths after the convs
    description: str


ARCHS: dict[str, Arch] = {
    "dense": Arch("dense", (), (128,), "flatten -> 128 -> classes"),
    "conv": Arch(
        "conv", ((8, 5, 2), (16, 3, 2)), (64,), "conv 8c5s2 -> conv 16c3s2 -> 64 -> classes (strided, no pooling)"
    ),
}


def get_arch(name: str) -> Arch:
    if name not in ARCHS:
        raise UnknownNameError("architecture (--arch)", name, ARCHS)
    return ARCHS[name]


def arch_config(name: str, hidden: tuple[int, ...] | None = None, **fields) -> ModelConfig:
    """A :class:`ModelConfig` for architecture ``name``; ``hidden`` overrides its dense
    widths, ``fields`` set the rest (input shape, classes, dt, steps, time origin)."""
    a = get_arch(name)
    return ModelConfig(**{**fields, "conv": a.conv, "hidden": a.hidden if hidden is None else tuple(hidden)})


def dataset_config(name: str, ds, dt_us: int, num_steps: int, hidden: tuple[int, ...] | None = None) -> ModelConfig:
    """:func:`arch_config` for an event data set ``ds``: input (2 polarities, H, W) from its
    sensor, its classes and time origin, ``num_steps`` bins of ``dt_us``."""
    return arch_config(
        name,
        hidden,
        input_shape=(2, ds.sensor[1], ds.sensor[0]),
        num_classes=ds.num_classes,
        dt_us=dt_us,
        num_steps=num_steps,
        time_origin=ds.time_origin,
    )


def arch_of(cfg: ModelConfig) -> str:
    """The registered name a config was built from, or ``custom``."""
    conv = tuple(tuple(c) for c in cfg.conv)
    return next((a.name for a in ARCHS.values() if a.conv == conv), "custom")


def with_timing(cfg: ModelConfig, dt_us: int, num_steps: int) -> ModelConfig:
    """The same network for another binning (HSD students run fewer, longer steps)."""
    return replace(cfg, dt_us=int(dt_us), num_steps=int(num_steps))
