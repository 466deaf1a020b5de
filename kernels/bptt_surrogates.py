r"""The surrogate table of the fused LIF backward: id, constants and closed form of each surrogate.

A surrogate derivative ``g(u)`` of ``u = h - v_th`` reaches the kernels as an id
(``F[F_SURROGATE]``) and two constants ``c1``, ``c2`` (``P[P_SG_C1]``, ``P[P_SG_C2]``) computed
from its width parameter ``p`` (``Surrogate.kernel_param``)::

    id  name          g(u)                                   c1                 c2
    0   atan          c2 / (1 + (c1 u)^2)                    pi/2 p             p/2
    1   sigmoid       (1 - s) s c1,  s = 1 / (1 + e^(-c1 u)) p                  -
    2   fast_sigmoid  1 / (c1 |u| + 1)^2                     p                  -
    3   triangle      max(0, 1 - c1 |u|) c1                  p                  -
    4   gaussian      e^(-u^2 c1) c2                         1 / (2 p^2)        1 / (sqrt(2 pi) p)
    5   erf           e^(-(c1 u)^2) c2                       p                  p / sqrt(pi)

:data:`SURROGATE_KERNELS` is that table, and everything else is derived from it:
``neurosim.snn.surrogate`` takes each class's ``kernel_id`` from :data:`KERNEL_IDS`, the packer
(:func:`neurosim.kernels.bptt_layout.pack`) the constants from :func:`surrogate_constants`,
and ``bptt_sg_rows.py`` (the scalar ``_sg`` and the backward row ``_bwd_row``, one loop per
surrogate so that each vectorises) is generated from the ``code`` column by :func:`render_rows`
(``python -m neurosim.kernels.bptt_surrogates`` rewrites it; ``tests/test_snn_fused.py`` fails
when the file differs from the table, and walks every registered surrogate against the naive
reference). Adding a surrogate: a class in ``neurosim/snn/surrogate.py``, a row here, its
closed form in ``tests/naive_snn.py``, then regenerate.

``code``: Numba statements that set ``g`` from ``u``, ``c1``, ``c2``, ``one``, ``zero`` (dtype
constants) and ``exp`` (``np.exp`` in the scalar ``_sg``; in the rows ``vexp``, the float32
``exp`` that vectorises, ``kernels/vexp.py``); scratch names ``a``, ``e``, ``r``. ``lean``:
the row also has a loop that skips writing ``gh`` (when the leak gradient does not need it);
measured to pay for the common surrogates only (commit 352cd09), each such loop being one
more copy to compile.

Numba only (stdlib); no kernel here.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Callable, NamedTuple

__all__ = ["SurrogateKernel", "SURROGATE_KERNELS", "KERNEL_IDS", "surrogate_constants", "render_rows",
           "ROWS_FILE"]


class SurrogateKernel(NamedTuple):
    """One row of the table (see the module docstring)."""

    name: str
    id: int
    constants: Callable[[float], tuple]
    code: tuple
    lean: bool = False


SURROGATE_KERNELS = (
    SurrogateKernel("atan", 0, lambda p: (math.pi / 2 * p, p / 2),
                    ("a = c1 * u", "g = c2 / (one + a * a)"), lean=True),
    SurrogateKernel("sigmoid", 1, lambda p: (p, 0.0),
                    ("e = one / (one + exp(-(c1 * u)))", "g = (one - e) * e * c1"), lean=True),
    SurrogateKernel("fast_sigmoid", 2, lambda p: (p, 0.0),
                    ("e = c1 * abs(u) + one", "g = one / (e * e)")),
    SurrogateKernel("triangle", 3, lambda p: (p, 0.0),
                    ("r = one - c1 * abs(u)", "g = r * c1 if r > zero else zero")),
    SurrogateKernel("gaussian", 4, lambda p: (1.0 / (2.0 * p * p), 1.0 / (math.sqrt(2.0 * math.pi) * p)),
                    ("g = exp(-(u * u) * c1) * c2",)),
    SurrogateKernel("erf", 5, lambda p: (p, p / math.sqrt(math.pi)),
                    ("a = c1 * u", "g = exp(-(a * a)) * c2")),
)

#: kernel form name -> id (``Surrogate.kernel_id``)
KERNEL_IDS = {k.name: k.id for k in SURROGATE_KERNELS}
_BY_ID = {k.id: k for k in SURROGATE_KERNELS}

#: the generated module
ROWS_FILE = Path(__file__).with_name("bptt_sg_rows.py")


def surrogate_constants(sid: int, p: float) -> tuple:
    """``(c1, c2)`` of surrogate ``sid`` with width parameter ``p``."""
    kernel = _BY_ID.get(sid)
    if kernel is None:
        raise ValueError(f"unknown surrogate kernel id {sid}; known: {sorted(_BY_ID)} (kernels/bptt_surrogates.py)")
    return kernel.constants(p)


# -- the generated rows -------------------------------------------------------------------------
_HEADER = '''"""Surrogate rows of the fused LIF backward. GENERATED from the table in ``bptt_surrogates.py``
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
'''


def _const(kernel: SurrogateKernel) -> str:
    return f"SG_{kernel.name.upper()}"


def _stmts(kernel: SurrogateKernel, exp: str, indent: str) -> list:
    return [indent + s.replace("exp(", f"{exp}(") for s in kernel.code]


def _branch(i: int, n: int, cond: str) -> str:
    if i == 0:
        return f"if {cond}:"
    return "else:" if i == n - 1 else f"elif {cond}:"


def render_rows() -> str:
    """The text of ``bptt_sg_rows.py`` for the current table."""
    out = [_HEADER]
    out += [f"{_const(k)} = {k.id}" for k in SURROGATE_KERNELS]
    out += ["", "", "@numba.njit(**_NJIT)", "def _sg(u, sid, c1, c2, one, zero):",
            '    """The surrogate derivative ``g(u)`` of surrogate ``sid`` (dtype of ``u``)."""']
    for i, k in enumerate(SURROGATE_KERNELS):
        out.append("    " + _branch(i, len(SURROGATE_KERNELS), f"sid == {_const(k)}"))
        out += _stmts(k, "np.exp", " " * 8)
    out += ["    return g", "", "", "@numba.njit(**_NJIT)",
            "def _bwd_row(Hr, gsr, G, gxr, Ghr, P, sid, c, dhdx, dhdv, keep):",
            '    """Surrogate and gradient of one step of one block (see the module docstring)."""',
            "    n = G.shape[0]",
            "    th, c1, c2, one, zero, thf = P[P_V_TH], P[P_SG_C1], P[P_SG_C2], P[P_ONE], P[P_ZERO], P[P_TH_FIRE]",
            "    k0, k1, k2, k3 = c[0], c[1], c[2], c[3]"]
    loops = [(k, False) for k in SURROGATE_KERNELS if k.lean] + [(k, True) for k in SURROGATE_KERNELS]
    for i, (k, keep) in enumerate(loops):
        cond = f"sid == {_const(k)}" if keep else f"not keep and sid == {_const(k)}"
        out.append("    " + _branch(i, len(loops), cond) + ("" if keep else f"  # {k.name} without the gh row"))
        out += ["        for j in range(n):", "            h = Hr[j]", "            u = h - th"]
        out += _stmts(k, "vexp", " " * 12)
        if keep:
            out += ["            d = k0 + k1 * (zero if h >= thf else one) + (k2 - k3 * h) * g",
                    "            gh = gsr[j] * g + G[j] * d"]
        else:
            out += ["            gh = gsr[j] * g + G[j] * (k0 + k1 * (zero if h >= thf else one) + (k2 - k3 * h) * g)"]
        out += ["            gxr[j] = gh * dhdx", "            G[j] = gh * dhdv"]
        if keep:
            out.append("            Ghr[j] = gh")
    return "\n".join(out) + "\n"


if __name__ == "__main__":  # pragma: no cover - the maintainers' generator
    ROWS_FILE.write_text(render_rows())
    print(f"wrote {ROWS_FILE}")
