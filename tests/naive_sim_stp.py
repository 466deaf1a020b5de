"""Slow NumPy references for Tsodyks-Markram short-term plasticity (kernels/stp.py), written from the
spec's formulations (SIMULATION.md section 5), sharing no code with the kernels.

- ``tsodyks2_efficacies``: the recursion on the values *used* at each spike (NEST tsodyks2 / Maass &
  Markram 2002): ``x_1 = 1``, ``u_1 = U``, ``x_{n+1} = 1 + (x_n - u_n x_n - 1) e^{-h/tau_rec}``,
  ``u_{n+1} = U + u_n (1 - U) e^{-h/tau_fac}``; efficacy ``u_n x_n``.
- ``three_state_efficacies``: the linear ODE ``dx/dt = (1 - x - y)/tau_rec``, ``dy/dt = -y/tau_psc``
  propagated between spikes with ``scipy.linalg.expm`` of the augmented matrix (not the closed-form
  propagators of the kernel); ``u`` decays with ``tau_fac``; at a spike ``u += U (1 - u)``,
  ``Delta = u x``, ``x -= Delta``, ``y += Delta``.
"""
from __future__ import annotations

import numpy as np
from scipy.linalg import expm


def tsodyks2_efficacies(times, U, tau_rec, tau_fac):
    out = []
    u, x = U, 1.0
    for n, t in enumerate(times):
        if n:
            h = t - times[n - 1]
            fac = np.exp(-h / tau_fac) if tau_fac > 0 else 0.0
            x, u = 1.0 + (x - u * x - 1.0) * np.exp(-h / tau_rec), U + u * (1.0 - U) * fac
        out.append(u * x)
    return np.array(out)


def three_state_efficacies(times, U, tau_rec, tau_fac, tau_psc):
    # d/dt [x, y, 1] = A [x, y, 1]
    A = np.array([[-1.0 / tau_rec, -1.0 / tau_rec, 1.0 / tau_rec], [0.0, -1.0 / tau_psc, 0.0], [0.0, 0.0, 0.0]])
    s = np.array([1.0, 0.0, 1.0])
    u = 0.0
    out = []
    for n, t in enumerate(times):
        if n:
            h = t - times[n - 1]
            s = expm(A * h) @ s
            u = u * np.exp(-h / tau_fac) if tau_fac > 0 else 0.0
        u = u + U * (1.0 - u)
        d = u * s[0]
        s = s + np.array([-d, d, 0.0])
        out.append(d)
    return np.array(out)
