"""Differentiable augmentation of event-frame batches (N, C, H, W, T), siamese style.

Dataset condensation with differentiable siamese augmentation (DSA; Zhao & Bilen, ICML 2021,
used by DM and NCFM, ``../shared/research/seeds-methods.md`` section 9) draws *one* set of
transform parameters per batch and applies it to the real and to the synthetic batch alike,
so that the matching loss compares like with like and its gradient flows through the
transform into the synthetic frames. For event frames the transforms are those that keep
a recording a plausible recording of the same thing:

* spatial shift by up to ``max_shift_px`` pixels in x and y (zero fill: the sensor edge);
* temporal shift by up to ``max_time_shift`` steps (zero fill);
* cutout: a ``cutout_px`` square, zeroed in every polarity and step, with probability
  ``cutout_p``.

Flips, rotations and colour jitter of image DSA are left out (digits are not mirror-symmetric;
interpolation would make event counts fractional). Every transform is a crop of a
zero-padded tensor or a product with a 0/1 mask: integer frames stay integer and
gradients pass unchanged to the pixels that stay in view.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from neuro_deploy.errors import BadInputError, UnknownNameError


@dataclass(frozen=True)
class AugmentParams:
    dy: int = 0
    dx: int = 0
    dt: int = 0
    cutout: tuple[int, int] | None = None  #: (y0, x0) of the zeroed square, or none


@dataclass(frozen=True)
class FrameAugment:
    max_shift_px: int = 0
    max_time_shift: int = 0
    cutout_px: int = 0
    cutout_p: float = 0.5

    def __post_init__(self) -> None:
        if min(self.max_shift_px, self.max_time_shift, self.cutout_px) < 0 or not 0 <= self.cutout_p <= 1:
            raise BadInputError(f"augmentation {self}: shifts and cutout must be >= 0, cutout_p in [0, 1]")

    @property
    def identity(self) -> bool:
        return self.max_shift_px == 0 and self.max_time_shift == 0 and (self.cutout_px == 0 or self.cutout_p == 0)

    def sample(self, gen: Any, shape: tuple[int, ...]) -> AugmentParams:
        """One parameter set for a batch of ``shape`` (N, C, H, W, T), from torch generator ``gen``."""
        import torch

        def rint(lo: int, hi: int) -> int:  # inclusive
            return int(torch.randint(lo, hi + 1, (1,), generator=gen)) if hi > lo else lo

        h, w = shape[2], shape[3]
        cut = None
        if self.cutout_px and float(torch.rand(1, generator=gen)) < self.cutout_p:
            cut = (rint(0, max(0, h - self.cutout_px)), rint(0, max(0, w - self.cutout_px)))
        return AugmentParams(
            rint(-self.max_shift_px, self.max_shift_px),
            rint(-self.max_shift_px, self.max_shift_px),
            rint(-self.max_time_shift, self.max_time_shift),
            cut,
        )

    def apply(self, x: Any, p: AugmentParams) -> Any:
        """``x`` (N, C, H, W, T) shifted by (dy, dx, dt) with zero fill, then cut out."""
        return shift(cutout(x, p.cutout, self.cutout_px), p.dy, p.dx, p.dt)


def shift(x: Any, dy: int, dx: int, dt: int) -> Any:
    """Content moves by (+dy, +dx, +dt) along (H, W, T); what leaves is dropped, zeros enter."""
    import torch.nn.functional as F

    if dy == dx == dt == 0:
        return x
    h, w, t = x.shape[2], x.shape[3], x.shape[4]
    py, px, pt = abs(dy), abs(dx), abs(dt)
    xp = F.pad(x, (pt, pt, px, px, py, py))  # last dims first: T, W, H
    return xp[:, :, py - dy : py - dy + h, px - dx : px - dx + w, pt - dt : pt - dt + t]


def cutout(x: Any, corner: tuple[int, int] | None, size: int) -> Any:
    if corner is None or size <= 0:
        return x
    import torch

    mask = torch.ones(x.shape[2:4], dtype=x.dtype, device=x.device)
    mask[corner[0] : corner[0] + size, corner[1] : corner[1] + size] = 0
    return x * mask[None, None, :, :, None]


#: Named augmentations (``distill --augment``, ``train --augment``).
AUGMENTATIONS: dict[str, FrameAugment] = {
    "none": FrameAugment(),
    "dsa": FrameAugment(max_shift_px=2, max_time_shift=1, cutout_px=8, cutout_p=0.5),
}


def get_augment(name: str) -> FrameAugment:
    if name not in AUGMENTATIONS:
        raise UnknownNameError("augmentation", name, AUGMENTATIONS)
    return AUGMENTATIONS[name]
