"""Slow references for the Tsodyks-Markram projection (``kernels/stp.py``), sharing no code with it.

``tsodyks2_efficacies`` follows the recursion of SIMULATION.md §5 literally; ``tsodyks_efficacies``
integrates the three-state model between spikes with the matrix exponential of its linear ODE
(``scipy.linalg.expm``), not with NEST's closed-form propagators the kernel uses.
"""
from __future__ import annotations

import numpy as np
from scipy.linalg import expm


def tsodyks2_efficacies(times_ms, U, tau_rec, tau_fac):
    """``u_n x_n`` for each spike of ``times_ms`` (x_1 = 1, u_1 = U)."""
    out, x, u, t_prev = [], 1.0, U, None
    for t in times_ms:
        if t_prev is not None:
            d = t - t_prev
            x = 1.0 + (x - u * x - 1.0) * np.exp(-d / tau_rec)
            u = U + u * (1.0 - U) * (np.exp(-d / tau_fac) if tau_fac > 0 else 0.0)
        out.append(u * x)
        t_prev = t
    return np.asarray(out)


def tsodyks_efficacies(times_ms, U, tau_rec, tau_fac, tau_psc):
    """Released fraction ``u x`` at each spike of the three-state model (x = 1, y = 0, u = 0 at the start):
    ``dx/dt = (1 - x - y) / tau_rec``, ``dy/dt = -y / tau_psc``, ``du/dt = -u / tau_fac``; at a spike
    ``u += U (1 - u)``, then ``u x`` moves from x to y."""
    A = np.array([[-1.0 / tau_rec, -1.0 / tau_rec, 1.0 / tau_rec], [0.0, -1.0 / tau_psc, 0.0], [0.0, 0.0, 0.0]])
    s = np.array([1.0, 0.0, 1.0])  # x, y, constant 1
    u, out, t_prev = 0.0, [], None
    for t in times_ms:
        if t_prev is not None:
            d = t - t_prev
            s = expm(A * d) @ s
            u = u * (np.exp(-d / tau_fac) if tau_fac > 0 else 0.0)
        u = u + U * (1.0 - u)
        r = u * s[0]
        out.append(r)
        s = s + np.array([-r, r, 0.0])
        t_prev = t
    return np.asarray(out)
