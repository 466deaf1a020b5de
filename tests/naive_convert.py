"""Slow, independent reference for ANN-to-SNN conversion (NumPy float64, plain loops).

Shares no code with ``neurosim.convert``: the ANN is a list of layers read from a torch
``nn.Sequential`` once (weights only), the scales are the dataset maxima (or the percentile of
the non-zero activations) computed here, and the spiking network is the textbook
integrate-and-fire loop with reset by subtraction on the *normalised* network: the input of
the neuron layer ``l`` at step ``t`` is ``(W_l (lambda_{l-1} s_{l-1, t}) + b_l) / lambda_l``,
threshold 1 (Diehl et al. 2015; Rueckauer et al. 2017).
"""
from __future__ import annotations

import numpy as np

from naive_snn import zero_pad


def layers_from_sequential(seq) -> list:
    """``[("linear", W, b) | ("conv", W, b, pad) | ("relu",) | ("avgpool2",) | ("flatten",)]`` of a
    torch ``nn.Sequential`` of Linear, Conv2d (stride 1, square zero padding), ReLU, AvgPool2d(2), Flatten."""
    from torch import nn

    out = []
    for m in seq:
        if isinstance(m, nn.Linear):
            out.append(("linear", m.weight.detach().double().numpy(), m.bias.detach().double().numpy()))
        elif isinstance(m, nn.Conv2d):
            assert m.stride == (1, 1) and m.groups == 1 and m.padding[0] == m.padding[1]
            out.append(("conv", m.weight.detach().double().numpy(), m.bias.detach().double().numpy(), m.padding[0]))
        elif isinstance(m, nn.ReLU) or type(m).__name__ == "QCFS":  # a QCFS layer's neuron is the same IF
            out.append(("relu",))
        elif isinstance(m, nn.AvgPool2d):
            assert m.kernel_size == 2 and m.stride == 2
            out.append(("avgpool2",))
        elif isinstance(m, nn.Flatten):
            out.append(("flatten",))
        else:
            raise TypeError(type(m).__name__)
    return out


def conv2d(x, W, b, pad):
    """Direct convolution ``[B, C, H, W]`` -> ``[B, O, H', W']`` (stride 1), a loop over kernel offsets."""
    O, _, K, _ = W.shape
    xp, (Ho, Wo) = zero_pad(x, pad, K)
    out = np.zeros((x.shape[0], O, Ho, Wo))
    for i in range(K):
        for j in range(K):
            out += np.einsum("bchw,oc->bohw", xp[:, :, i:i + Ho, j:j + Wo], W[:, :, i, j])
    return out + b[None, :, None, None]


def apply(layer, x):
    """One non-activation layer."""
    kind = layer[0]
    if kind == "linear":
        return x @ layer[1].T + layer[2]
    if kind == "conv":
        return conv2d(x, layer[1], layer[2], layer[3])
    if kind == "avgpool2":
        B, C, H, W = x.shape
        return x[:, :, :H // 2 * 2, :W // 2 * 2].reshape(B, C, H // 2, 2, W // 2, 2).mean(axis=(3, 5))
    if kind == "flatten":
        return x.reshape(x.shape[0], -1)
    raise KeyError(kind)


def ann_forward(layers, x):
    """ANN output and the list of post-ReLU activations (float64)."""
    x = np.asarray(x, dtype=np.float64)
    acts = []
    for layer in layers:
        if layer[0] == "relu":
            x = np.maximum(x, 0.0)
            acts.append(x)
        else:
            x = apply(layer, x)
    return x, acts


def scales(layers, x, mode="max", per_channel=False):
    """Scale of each ReLU over the whole set ``x``: ``"max"`` or ``("percentile", p)`` of the non-zero
    activations (``numpy.percentile``, linear interpolation); per channel (axis 1): a float64 array."""
    _, acts = ann_forward(layers, x)
    out = []
    for a in acts:
        rows = np.moveaxis(a, 1, 0).reshape(a.shape[1], -1) if per_channel else a.reshape(1, -1)
        if mode == "max":
            lam = rows.max(axis=1)
        else:
            lam = np.array([np.percentile(r[r != 0], mode[1]) if (r != 0).any() else 0.0 for r in rows])
        lam[lam <= 0] = lam.max()  # a channel that never activates: any scale (it never fires); the layer's largest
        out.append(lam if per_channel else float(lam[0]))
    return out


def _per_channel(lam, h):
    """A scale (float, or one value per channel on axis 1) shaped to broadcast against ``h``."""
    lam = np.asarray(lam, dtype=np.float64)
    return lam if lam.ndim == 0 else lam.reshape((1, -1) + (1,) * (h.ndim - 2))


def if_simulate(layers, lams, x, T, v_init=0.0, signed=False):
    """Rate-coded IF network on the constant input ``x`` for ``T`` steps. ``signed``: a neuron whose
    membrane is below 0 after the input while its spike count is positive fires -1 (adds the threshold).

    Returns ``(mean output over the steps, list of spike counts per ReLU layer [B, ...])``.
    """
    x = np.asarray(x, dtype=np.float64)
    v = [None] * len(lams)
    counts = [None] * len(lams)
    out_sum = None
    for _ in range(T):
        h = x
        k = 0
        for layer in layers:
            if layer[0] == "relu":
                lam = _per_channel(lams[k], h)
                z = h / lam
                if v[k] is None:
                    v[k] = np.full(z.shape, v_init)
                    counts[k] = np.zeros(z.shape)
                v[k] = v[k] + z
                s = (v[k] >= 1.0).astype(np.float64)
                if signed:
                    s = s - ((v[k] < 0.0) & (counts[k] > 0)).astype(np.float64)
                v[k] = v[k] - s
                counts[k] += s
                h = s * lam
                k += 1
            else:
                h = apply(layer, h)
        out_sum = h if out_sum is None else out_sum + h
    return out_sum / T, counts


def calibrate_bias(layers, lams, x, T, rounds=1, v_init=0.0):
    """Layer-wise bias calibration (Li et al. 2021) on the normalised network, in plain loops: for each
    ReLU ``k`` in order, ``e = mean(ANN activation k) - mean(lambda_k x spike rate k)`` per channel over
    images and positions (the ANN is the *uncorrected* one), added to the bias of the layer feeding
    ReLU ``k`` (then the next ReLU sees the corrected network). Returns the corrected layer list."""
    x = np.asarray(x, dtype=np.float64)
    _, acts = ann_forward(layers, x)
    layers = [tuple(np.array(v, copy=True) if isinstance(v, np.ndarray) else v for v in layer) for layer in layers]
    relus = [i for i, layer in enumerate(layers) if layer[0] == "relu"]
    for _ in range(rounds):
        for k, i in enumerate(relus):
            _, counts = if_simulate(layers, lams, x, T, v_init)
            rate = counts[k] / T * _per_channel(lams[k], counts[k])
            axes = (0,) + tuple(range(2, rate.ndim))
            err = acts[k].mean(axis=axes) - rate.mean(axis=axes)
            j = i - 1
            while layers[j][0] not in ("linear", "conv"):
                j -= 1
            layers[j][2][...] += err
    return layers
