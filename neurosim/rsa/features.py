"""Per-frame features from any torch model (neurosim, spikingjelly, snntorch) via forward hooks.

Two presentation protocols (ALGORITHMS.md §1.4):

* ``mode="continuous"`` (UCF101-trained SNNs, ``SNNMovieExtraction``): the model is reset
  once, then the whole movie is fed one frame per time step, in chunks of ``chunk`` frames;
  the state carries across chunks. The feature of frame t is the hooked layer's output at
  step t.
* ``mode="static"`` (ImageNet-trained SNNs, ``SNNStaticExtraction``): each frame is an
  independent image repeated for ``steps`` time steps (default 4) with the model reset before
  it; the feature is the mean over the steps. Frames are batched (``batch_size``) since
  they are independent.

``step_mode="multi"`` models take ``[T, B, C, H, W]`` (neurosim models, spikingjelly
``step_mode="m"``); ``step_mode="single"`` models take ``[B, C, H, W]`` once per time step
(snntorch-style loops, spikingjelly ``"s"``). A hook's outputs within one call are
assembled time-major whether the layer is multi-step (one ``[T, B, ...]`` output), runs
merged (``[T*B, ...]``, inside ``SeqToANN``) or is called once per step (``[B, ...]``).
Tuple outputs (snntorch ``(spk, mem)``) give element ``output_index``.

Features are flattened per frame and returned as float32 arrays ``[n_frames, units]``; with
``memmap_dir`` each layer is written to ``{memmap_dir}/{layer}.npy`` instead and returned
as a read-only memory map (for layers of ~800,000 units x 900 frames).

torch is imported inside the functions, never at module import time.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from neurosim._validation import check_choice, check_int

__all__ = ["list_layers", "default_reset", "extract_features"]


def list_layers(model) -> list[str]:
    """Names accepted as ``layers`` (``model.named_modules()``, the root excluded)."""
    return [n for n, _ in model.named_modules() if n]


def default_reset(model) -> None:
    """:func:`neurosim.snn.reset_states`: resets spikingjelly, snntorch and neurosim neurons and
    calls every module's own ``reset_states()`` method.

    The torch-side exception of this numpy-layer package: ``neurosim.snn`` is imported lazily,
    at the first call (this module extracts features from torch models; ``neurosim.rsa`` itself
    never imports torch).
    """
    from neurosim.snn import reset_states

    reset_states(model)


def _assemble(outs, L, B):
    import torch

    if len(outs) == L and all(o.shape[0] == B for o in outs) and L * B != outs[0].shape[0]:
        t = torch.stack(outs)
    else:
        t = torch.cat(outs, dim=0)
    if t.numel() % (L * B):
        raise ValueError(f"cannot split a hooked output of shape {tuple(t.shape)} into {L} steps x {B} samples")
    return t.reshape(L, B, -1)


def extract_features(model, frames, layers, *, mode: str = "continuous", steps: int = 4,
                     chunk: int = 16, batch_size: int = 16, step_mode: str = "multi", reset=None,
                     output_index: int = 0, device=None, memmap_dir=None, progress: bool = False) -> dict:
    """Run ``model`` on a movie and return ``{layer: features [n_frames, units]}``.

    Parameters
    ----------
    model : torch.nn.Module
    frames : array or tensor [n_frames, C, H, W] (already normalised for the model)
    layers : layer names (see :func:`list_layers`); a bad name raises ValueError listing them
    mode : "continuous" or "static" (see module docstring)
    steps : time steps per frame in static mode
    chunk : frames per forward call in continuous mode
    batch_size : frames per forward call in static mode
    step_mode : "multi" ([T, B, ...] input) or "single" ([B, ...] per step)
    reset : callable(model); default :func:`default_reset`
    """
    import torch

    check_choice("mode", mode, ("continuous", "static"))
    check_choice("step_mode", step_mode, ("multi", "single"))
    check_int("steps", steps, min_value=1)
    check_int("chunk", chunk, min_value=1)
    check_int("batch_size", batch_size, min_value=1)
    if isinstance(layers, str):
        layers = [layers]
    layers = list(layers)
    if not layers:
        raise ValueError("layers must name at least one module")
    available = dict(model.named_modules())
    bad = [l for l in layers if l not in available or l == ""]
    if bad:
        names = list_layers(model)
        raise ValueError(f"unknown layer(s) {bad}; available layers: {', '.join(names)}")
    x_all = torch.as_tensor(np.asarray(frames) if not isinstance(frames, torch.Tensor) else frames)
    if x_all.ndim < 2:
        raise ValueError(f"frames must be [n_frames, ...] (e.g. [n_frames, C, H, W]), got shape {tuple(x_all.shape)}")
    x_all = x_all.float()
    n = x_all.shape[0]
    if n < 1:
        raise ValueError("frames must contain at least one frame")
    reset = default_reset if reset is None else reset
    if device is not None:
        model = model.to(device)
    dev = next((p.device for p in model.parameters()), torch.device("cpu")) if device is None else torch.device(device)

    captured = {l: [] for l in layers}
    handles = []
    for l in layers:
        def hook(_m, _inp, out, _l=l):
            if isinstance(out, (tuple, list)):
                out = out[output_index]
            captured[_l].append(out.detach().float())
        handles.append(available[l].register_forward_hook(hook))

    results: dict = {}

    def store(l, a, feats):  # feats [k, units] numpy float32
        if l not in results:
            if memmap_dir is not None:
                Path(memmap_dir).mkdir(parents=True, exist_ok=True)
                results[l] = np.lib.format.open_memmap(Path(memmap_dir) / f"{l}.npy", mode="w+",
                                                       dtype=np.float32, shape=(n, feats.shape[1]))
            else:
                results[l] = np.empty((n, feats.shape[1]), dtype=np.float32)
        results[l][a:a + feats.shape[0]] = feats

    def run(x, L, B):  # x: [L, B, ...] time-major; returns nothing, fills captured
        for v in captured.values():
            v.clear()
        if step_mode == "multi":
            model(x)
        else:
            for t in range(L):
                model(x[t])

    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            starts = range(0, n, chunk if mode == "continuous" else batch_size)
            if progress:
                from tqdm.auto import tqdm

                starts = tqdm(starts, desc=f"features ({mode})", leave=False)
            if mode == "continuous":
                reset(model)
            for a in starts:
                if mode == "continuous":
                    xb = x_all[a:a + chunk].to(dev)
                    L = xb.shape[0]
                    run(xb.unsqueeze(1), L, 1)
                    for l in layers:
                        if not captured[l]:
                            raise ValueError(f"layer {l!r} was not called in the forward pass")
                        store(l, a, _assemble(captured[l], L, 1)[:, 0].cpu().numpy())
                else:
                    xb = x_all[a:a + batch_size].to(dev)
                    B = xb.shape[0]
                    reset(model)
                    run(xb.unsqueeze(0).expand(steps, *xb.shape), steps, B)
                    for l in layers:
                        if not captured[l]:
                            raise ValueError(f"layer {l!r} was not called in the forward pass")
                        store(l, a, _assemble(captured[l], steps, B).mean(dim=0).cpu().numpy())
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    if memmap_dir is not None:
        for l in layers:
            results[l].flush()
            results[l] = np.load(Path(memmap_dir) / f"{l}.npy", mmap_mode="r")
    return {l: results[l] for l in layers}
