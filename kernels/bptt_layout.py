"""Parameter layout of the fused LIF kernels (:mod:`neurosim.kernels.bptt`): named slots and one packer.

The kernels take their configuration in two small arrays, so that one compiled kernel serves
every convention: ``P`` holds the scalars in the dtype of the data (float32 data is computed in
float32, as torch does) and ``F`` the codes, flags and sizes (int64). Every slot is named here;
:func:`pack` is the only code that fills them, and the kernels read them by name (Numba folds
the module-level integers into constants, so a name costs nothing).

``P`` (dtype of the data)
    ``P_TAU`` tau (steps; form 0 divides by it), ``P_V_TH``, ``P_V_RESET``, ``P_V_REST``,
    ``P_LEAK`` (form 1: the decay ``beta``; forms 2 and 3: the leak fraction ``k = 1/tau`` or
    the learnable one), ``P_SG_C1``/``P_SG_C2`` (the surrogate's constants, from
    :mod:`neurosim.kernels.bptt_surrogates`), ``P_ONE``/``P_ZERO`` (1 and 0 in the dtype),
    ``P_V_JUMP`` (``v_th - v_reset``, the subtract reset), ``P_TH_FIRE`` (the fire threshold:
    ``v_th``, or for the strict ``h > v_th`` the next float above it, so that every kernel
    fires on ``h >= P_TH_FIRE``; NaN for an infinite strict threshold: never fires).
``F`` (int64)
    ``F_FORM`` (``FORMS``: order of operations of the charge), ``F_DECAY_INPUT``, ``F_STRICT``,
    ``F_RESET`` (``RESET_CODES`` of :mod:`neurosim.kernels.lif`), ``F_DETACH_RESET``,
    ``F_RESET_DELAY`` (snntorch's delayed reset), ``F_SURROGATE`` (surrogate id),
    ``F_BLOCK`` (forward block, neurons), ``F_BWD_BLOCK`` (backward block), ``F_POOL_W``
    (image width ``W`` of the fused 2x2 average pooling, 0: none), ``F_STEPS`` (``T``),
    ``F_STREAM`` (1: the forward writes the stored membranes with streaming stores).

Numba only (numpy + neurosim.kernels); no kernel here.
"""
from __future__ import annotations

import math

import numpy as np

from neurosim.kernels.bptt_surrogates import surrogate_constants
from neurosim.kernels.lif import RESET_CODES, RESET_NONE, RESET_SUBTRACT, RESET_ZERO

__all__ = [
    "P_TAU", "P_V_TH", "P_V_RESET", "P_V_REST", "P_LEAK", "P_SG_C1", "P_SG_C2", "P_ONE", "P_ZERO", "P_V_JUMP",
    "P_TH_FIRE", "N_PARAMS", "F_FORM", "F_DECAY_INPUT", "F_STRICT", "F_RESET", "F_DETACH_RESET",
    "F_RESET_DELAY", "F_SURROGATE", "F_BLOCK", "F_BWD_BLOCK", "F_POOL_W", "F_STEPS", "F_STREAM", "N_FLAGS",
    "FORM_SPIKINGJELLY", "FORM_SNNTORCH", "FORM_NORSE", "FORM_PARAMETRIC", "FORMS", "RESET_CODES",
    "RESET_ZERO", "RESET_SUBTRACT", "RESET_NONE", "STREAM_ALIGN", "pack", "with_leak",
]

# -- P: scalars in the dtype of the data
P_TAU, P_V_TH, P_V_RESET, P_V_REST, P_LEAK, P_SG_C1, P_SG_C2, P_ONE, P_ZERO, P_V_JUMP, P_TH_FIRE = range(11)
N_PARAMS = 11

# -- F: codes, flags and sizes (int64)
(F_FORM, F_DECAY_INPUT, F_STRICT, F_RESET, F_DETACH_RESET, F_RESET_DELAY, F_SURROGATE, F_BLOCK, F_BWD_BLOCK,
 F_POOL_W, F_STEPS, F_STREAM) = range(12)
N_FLAGS = 12

#: charge forms (order of operations, see :mod:`neurosim.kernels.bptt`)
FORM_SPIKINGJELLY, FORM_SNNTORCH, FORM_NORSE, FORM_PARAMETRIC = range(4)
FORMS = {"spikingjelly": FORM_SPIKINGJELLY, "snntorch": FORM_SNNTORCH, "norse": FORM_NORSE,
         "parametric": FORM_PARAMETRIC}

#: bytes: streaming stores write whole aligned vectors, so every stored row and block starts on
#: this boundary
STREAM_ALIGN = 32


def pack(dtype, *, form: int, tau: float, v_th: float, v_reset: float, v_rest: float, leak: float,
         surrogate: int, surrogate_param: float, decay_input: bool, strict: bool, reset: int,
         detach_reset: bool, reset_delay: bool, steps: int, block: int, bwd_block: int, pool_w: int = 0,
         stream: bool = False):
    """The ``(P, F)`` arrays of one kernel configuration (``P`` of ``dtype``, ``F`` int64).

    ``leak``: ``beta`` for ``FORM_SNNTORCH``, the leak fraction ``k`` for the norse and
    parametric forms (unused by form 0, which divides by ``tau``). ``surrogate``: an id of
    :data:`~neurosim.kernels.bptt_surrogates.SURROGATE_KERNELS` with its width parameter
    ``surrogate_param`` (``ValueError`` for an unknown id). ``stream``: write the stored
    membranes with streaming stores; kept only when the forward block is a whole number of
    :data:`STREAM_ALIGN`-byte vectors (the caller checks the row length and the buffer).
    """
    dtype = np.dtype(dtype)
    c1, c2 = surrogate_constants(surrogate, surrogate_param)
    th = dtype.type(v_th)
    if strict:  # h > v_th  <=>  h >= next float above v_th (never true for v_th = inf)
        th_fire = np.nextafter(th, dtype.type(np.inf)) if math.isfinite(th) else np.nan
    else:
        th_fire = th
    p = [0.0] * N_PARAMS
    p[P_TAU], p[P_V_TH], p[P_V_RESET], p[P_V_REST], p[P_LEAK] = tau, v_th, v_reset, v_rest, leak
    p[P_SG_C1], p[P_SG_C2], p[P_ONE], p[P_ZERO] = c1, c2, 1.0, 0.0
    p[P_V_JUMP], p[P_TH_FIRE] = v_th - v_reset, th_fire
    f = [0] * N_FLAGS
    f[F_FORM], f[F_DECAY_INPUT], f[F_STRICT], f[F_RESET] = form, int(decay_input), int(strict), reset
    f[F_DETACH_RESET], f[F_RESET_DELAY], f[F_SURROGATE] = int(detach_reset), int(reset_delay), surrogate
    f[F_BLOCK], f[F_BWD_BLOCK], f[F_POOL_W], f[F_STEPS] = block, bwd_block, pool_w, steps
    f[F_STREAM] = int(stream and block % (STREAM_ALIGN // dtype.itemsize) == 0)
    return np.array(p, dtype=dtype), np.array(f, dtype=np.int64)


def with_leak(P: np.ndarray, leak: float) -> np.ndarray:
    """A copy of ``P`` with another leak (the learnable ``k`` changes with every optimiser step)."""
    P = P.copy()
    P[P_LEAK] = leak
    return P
