"""Gaussian input noise from a numpy Generator's raw bits (the numbers ``Network.add_noise`` adds).

``NormalStream(gen).fill(out, lo, mean, std)`` writes ``mean + std z`` into columns
``lo ...`` of a drive chunk; ``draw_normal(gen, (T, n), mean, std, dtype)`` returns the same
numbers as a new array (what an identically seeded ``add_noise`` input draws), for tests and
references.
"""
from __future__ import annotations

import numpy as np

from neurosim.kernels.normal import BLOCK as _NBLOCK
from neurosim.kernels.normal import scaled_copy

__all__ = ["NormalStream", "draw_normal"]


class NormalStream:
    """Gaussian numbers ``mean + std z`` from a numpy Generator's raw bits (the noise of ``add_noise``).

    The stream: 64-bit outputs of ``gen.bit_generator.random_raw``, each split into two 32-bit
    units (low half first), turned into ``z ~ N(0, 1)`` in blocks of ``BLOCK`` samples (exactly
    ``BLOCK`` units each) by the float32 Box-Muller of ``neurosim.kernels.normal``, then scaled
    and written row by row (row-major ``[T, n]``). The unused rest of a block carries over to
    the next call, so the numbers do not depend on how the steps are split into chunks: the
    same generator state gives the same noise. Bits are drawn only for the blocks a call needs.
    """

    def __init__(self, gen):
        self.gen = gen
        self.z = np.zeros(_NBLOCK, dtype=np.float32)
        self.zpos = _NBLOCK  # next unused sample of the current block (none yet)
        self.scratch = np.zeros(_NBLOCK // 2, dtype=np.float32)

    def fill(self, out, lo, mean, std, accumulate=False):
        """Write (or add) ``mean + std z`` into ``out[:, lo:lo + mean.size]``, ``out`` C-contiguous [T, N]."""
        need = out.shape[0] * mean.size - (_NBLOCK - self.zpos)  # samples beyond the current block
        n_blocks = -(-need // _NBLOCK) if need > 0 else 0
        units = self.gen.bit_generator.random_raw(n_blocks * _NBLOCK // 2).view(np.int32)
        p, self.zpos = scaled_copy(units, 0, self.z, self.zpos, self.scratch, out, lo, mean, std, accumulate)
        if p != units.size:
            raise RuntimeError(f"NormalStream: {units.size} units drawn, {p} used")
        return out


def draw_normal(gen, shape, mean=0.0, std=1.0, dtype=np.float64):
    """``mean + std z`` [T, n] from a fresh :class:`NormalStream` over ``gen`` (what ``add_noise`` draws)."""
    T, n = shape
    out = np.empty((T, n), dtype=dtype)
    NormalStream(gen).fill(out, 0, np.broadcast_to(np.asarray(mean, dtype=dtype), (n,)).copy(),
                           np.broadcast_to(np.asarray(std, dtype=dtype), (n,)).copy())
    return out
