"""OpenMP region bodies for float64 (see :mod:`neurosim.kernels.omp_bodies`)."""
from __future__ import annotations

import numba
import numpy as np

from neurosim.config import CACHE
from neurosim.kernels.omp_bodies import SIG, backward_body, forward_body

__all__ = ["ADDRESSES"]

_LIKE = np.empty(0, np.float64)


@numba.cfunc(SIG, cache=CACHE)
def forward(data):
    forward_body(data, _LIKE)


@numba.cfunc(SIG, cache=CACHE)
def backward(data):
    backward_body(data, _LIKE)


#: (forward, backward) body addresses
ADDRESSES = (forward.address, backward.address)
