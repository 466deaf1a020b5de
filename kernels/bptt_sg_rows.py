"""Surrogate rows of the fused LIF backward. GENERATED from the table in ``bptt_surrogates.py``
by ``python -m neurosim.kernels.bptt_surrogates``: do not edit (a test compares this file with
the table).

``_sg`` evaluates one surrogate derivative; ``_bwd_row`` runs surrogate and gradient of one
step of one block in one loop per surrogate (a loop that chooses the surrogate per element
does not vectorise), with ``dv/dh = c0 + c1 (1 - s) + (c2 - c3 h) g`` (``c`` from
``bptt_rows._dvdh_coefs``): ``gh = gs g + G dv/dh``, ``gx = gh dh/dx``, ``G = gh dh/dv`` and,
when ``keep`` (or for the surrogates without a lean loop), ``Ghr = gh``. The packer writes only
ids of the table, so the last branch needs no test.

Numba only (numpy + numba + neurosim.config).
"""
from __future__ import annotations

import numba
import numpy as np

from neurosim.config import NJIT
from neurosim.kernels.bptt_layout import P_ONE, P_SG_C1, P_SG_C2, P_TH_FIRE, P_V_TH, P_ZERO
from neurosim.kernels.vexp import vexp

# IEEE division (as in bptt.py): x / 0 -> inf like torch, and divisions vectorise
_NJIT = dict(NJIT, error_model="numpy")

SG_ATAN = 0
SG_SIGMOID = 1
SG_FAST_SIGMOID = 2
SG_TRIANGLE = 3
SG_GAUSSIAN = 4
SG_ERF = 5


@numba.njit(**_NJIT)
def _sg(u, sid, c1, c2, one, zero):
    """The surrogate derivative ``g(u)`` of surrogate ``sid`` (dtype of ``u``)."""
    if sid == SG_ATAN:
        a = c1 * u
        g = c2 / (one + a * a)
    elif sid == SG_SIGMOID:
        e = one / (one + np.exp(-(c1 * u)))
        g = (one - e) * e * c1
    elif sid == SG_FAST_SIGMOID:
        e = c1 * abs(u) + one
        g = one / (e * e)
    elif sid == SG_TRIANGLE:
        r = one - c1 * abs(u)
        g = r * c1 if r > zero else zero
    elif sid == SG_GAUSSIAN:
        g = np.exp(-(u * u) * c1) * c2
    else:
        a = c1 * u
        g = np.exp(-(a * a)) * c2
    return g


@numba.njit(**_NJIT)
def _bwd_row(Hr, gsr, G, gxr, Ghr, P, sid, c, dhdx, dhdv, keep):
    """Surrogate and gradient of one step of one block (see the module docstring)."""
    n = G.shape[0]
    th, c1, c2, one, zero, thf = P[P_V_TH], P[P_SG_C1], P[P_SG_C2], P[P_ONE], P[P_ZERO], P[P_TH_FIRE]
    k0, k1, k2, k3 = c[0], c[1], c[2], c[3]
    if not keep and sid == SG_ATAN:  # atan without the gh row
        for j in range(n):
            h = Hr[j]
            u = h - th
            a = c1 * u
            g = c2 / (one + a * a)
            gh = gsr[j] * g + G[j] * (k0 + k1 * (zero if h >= thf else one) + (k2 - k3 * h) * g)
            gxr[j] = gh * dhdx
            G[j] = gh * dhdv
    elif not keep and sid == SG_SIGMOID:  # sigmoid without the gh row
        for j in range(n):
            h = Hr[j]
            u = h - th
            e = one / (one + vexp(-(c1 * u)))
            g = (one - e) * e * c1
            gh = gsr[j] * g + G[j] * (k0 + k1 * (zero if h >= thf else one) + (k2 - k3 * h) * g)
            gxr[j] = gh * dhdx
            G[j] = gh * dhdv
    elif sid == SG_ATAN:
        for j in range(n):
            h = Hr[j]
            u = h - th
            a = c1 * u
            g = c2 / (one + a * a)
            d = k0 + k1 * (zero if h >= thf else one) + (k2 - k3 * h) * g
            gh = gsr[j] * g + G[j] * d
            gxr[j] = gh * dhdx
            G[j] = gh * dhdv
            Ghr[j] = gh
    elif sid == SG_SIGMOID:
        for j in range(n):
            h = Hr[j]
            u = h - th
            e = one / (one + vexp(-(c1 * u)))
            g = (one - e) * e * c1
            d = k0 + k1 * (zero if h >= thf else one) + (k2 - k3 * h) * g
            gh = gsr[j] * g + G[j] * d
            gxr[j] = gh * dhdx
            G[j] = gh * dhdv
            Ghr[j] = gh
    elif sid == SG_FAST_SIGMOID:
        for j in range(n):
            h = Hr[j]
            u = h - th
            e = c1 * abs(u) + one
            g = one / (e * e)
            d = k0 + k1 * (zero if h >= thf else one) + (k2 - k3 * h) * g
            gh = gsr[j] * g + G[j] * d
            gxr[j] = gh * dhdx
            G[j] = gh * dhdv
            Ghr[j] = gh
    elif sid == SG_TRIANGLE:
        for j in range(n):
            h = Hr[j]
            u = h - th
            r = one - c1 * abs(u)
            g = r * c1 if r > zero else zero
            d = k0 + k1 * (zero if h >= thf else one) + (k2 - k3 * h) * g
            gh = gsr[j] * g + G[j] * d
            gxr[j] = gh * dhdx
            G[j] = gh * dhdv
            Ghr[j] = gh
    elif sid == SG_GAUSSIAN:
        for j in range(n):
            h = Hr[j]
            u = h - th
            g = vexp(-(u * u) * c1) * c2
            d = k0 + k1 * (zero if h >= thf else one) + (k2 - k3 * h) * g
            gh = gsr[j] * g + G[j] * d
            gxr[j] = gh * dhdx
            G[j] = gh * dhdv
            Ghr[j] = gh
    else:
        for j in range(n):
            h = Hr[j]
            u = h - th
            a = c1 * u
            g = vexp(-(a * a)) * c2
            d = k0 + k1 * (zero if h >= thf else one) + (k2 - k3 * h) * g
            gh = gsr[j] * g + G[j] * d
            gxr[j] = gh * dhdx
            G[j] = gh * dhdv
            Ghr[j] = gh
