"""Data: MNIST/Fashion-MNIST IDX, Allen Brain Observatory, N-MNIST events, encoders, stimuli.

Files are read from a folder (``root`` argument or ``NEUROSIM_DATA``); nothing is bundled
except the procedurally generated ``embedded`` digits used by ``neurosim demo``. A missing
file raises ``FileNotFoundError`` (naming the expected layout); an unreadable one (empty,
truncated, garbage, pickled, misshapen) :class:`neurosim.io.CorruptFileError`, a
``ValueError`` whose message starts with the file's path. Names are
loaded lazily from their submodules (``neurosim.data.mnist`` ...).
"""
from __future__ import annotations

import importlib

_EXPORTS = {
    "read_idx": "mnist", "resolve_data_root": "mnist", "load_mnist": "mnist",
    "download_mnist": "mnist", "load_dataset": "mnist",
    "make_digits": "embedded", "load_embedded": "embedded",
    "load_allen_2p_scenes": "allen", "load_allen_dg": "allen", "movie_responses_from_nwb": "allen",
    "check_nwb_file": "allen",
    "pool_sessions": "allen", "MovieResponses": "allen",
    "drifting_grating": "stimuli", "to_model_input": "stimuli", "resize_frames": "stimuli",
    "read_nmnist": "events", "decode_nmnist": "events", "events_to_frames": "events",
    "SaccadeCamera": "events",
    "rate_encode": "encoders", "latency_encode": "encoders",
    "synthetic_cortex": "synthetic",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f"neurosim.data.{_EXPORTS[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'neurosim.data' has no attribute {name!r}")
