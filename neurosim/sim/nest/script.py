"""``Network.write_nest_script(DIR)``: a standalone PyNEST script and the network's arrays; the reader.

``DIR/network/`` holds the spec (``neurosim.sim.nest.export.network_spec``: ``spec.json`` and one
``.npy`` per array, memory-mapped by every rank, each connecting only its own neurons' synapses) and
``DIR/run_nest.py`` the source of ``neurosim.sim.nest.build`` (numpy and nest only) with a main.
On a cluster with an MPI build of NEST::

    mpirun -np 64 python DIR/run_nest.py --duration-ms 1000 --threads 8

writes ``<monitor>_rank<R>.npz`` per rank (the spikes of the rank's neurons, neurosim global ids)
and ``timing_rank<R>.json``; :func:`read_nest_spikes` merges them into a ``SpikeMonitor``.
"""
from __future__ import annotations

import glob
import inspect
import os
import shutil
import tempfile

import numpy as np

from neurosim.sim.monitors import SpikeMonitor
from neurosim.sim.nest import build as _build
from neurosim.sim.nest.export import network_spec

__all__ = ["write_nest_script", "read_nest_spikes"]

_MAIN = '\n\nif __name__ == "__main__":\n    script_main()\n'


def _compact(spec) -> dict:
    """The synapse lists made smaller without changing a value: int32 indices where they fit, one number
    for a weight or delay that is the same for every synapse of a projection or stimulus (a per-rank
    build then reads 8 B per synapse of a uniform projection instead of 32)."""
    for part in (*spec["projections"], *spec["stimuli"]):
        for key in ("source", "target", "target_idx"):
            a = part.get(key)
            if isinstance(a, np.ndarray) and a.size and a.dtype.kind in "iu" and 0 <= a.min() and a.max() < 2 ** 31:
                part[key] = a.astype(np.int32)
        for key in ("weight", "delay"):
            a = part.get(key)
            if isinstance(a, np.ndarray) and a.size and a.ndim == 1 and np.all(a == a[0]):
                part[key] = float(a[0])
    return spec


def write_nest_script(net, directory, *, duration_ms=None, resolution=None) -> str:
    """Write ``network/`` and ``run_nest.py`` into ``directory`` (created); returns the script's path.

    ``duration_ms`` (optional) becomes the script's default ``--duration-ms``.
    """
    spec = _compact(network_spec(net, resolution=resolution))
    if duration_ms is not None:
        from neurosim._validation import check_positive

        spec["duration_ms"] = check_positive("duration_ms", duration_ms, unit="ms")
    directory = os.fspath(directory)
    os.makedirs(directory, exist_ok=True)
    final = os.path.join(directory, "network")
    tmp = tempfile.mkdtemp(prefix=".network-", dir=directory)   # a failed write leaves an earlier export whole
    try:
        _build.save_spec(tmp, spec)
        if os.path.isdir(final):
            shutil.rmtree(final)
        os.replace(tmp, final)
    finally:
        if os.path.isdir(tmp):
            shutil.rmtree(tmp)
    path = os.path.join(directory, "run_nest.py")
    src = inspect.getsource(_build)
    with open(path, "w") as fh:
        fh.write("# Written by neurosim (Network.write_nest_script): numpy + nest only; runs under mpirun.\n")
        fh.write(src + _MAIN)
    return path


def read_nest_spikes(directory, name: str = "spikes") -> SpikeMonitor:
    """Merge ``directory/<name>_rank*.npz`` (one per MPI rank) into a ``SpikeMonitor`` (sorted by time, id).

    ``FileNotFoundError`` when there is none; ``ValueError`` when ranks are missing.
    """
    from neurosim.io import CorruptFileError

    files = sorted(glob.glob(os.path.join(os.fspath(directory), f"{glob.escape(name)}_rank*.npz")))
    if not files:
        raise FileNotFoundError(f"no {name}_rank*.npz in {directory}: run run_nest.py there first")
    times, ids, neuron_ids, n_total, n_ranks = [], [], [], 0, None
    for f in files:
        try:
            with np.load(f, allow_pickle=False) as z:
                times.append(z["times_ms"])
                ids.append(z["ids"].astype(np.int64))
                neuron_ids.append(z["neuron_ids"])
                n_total, n_ranks = int(z["n_neurons"]), int(z["n_ranks"])
        except (OSError, KeyError, ValueError) as exc:
            raise CorruptFileError(f"{f}: not a spike file written by run_nest.py ({exc})") from exc
    if n_ranks != len(files):
        raise ValueError(f"{directory}: {len(files)} {name}_rank*.npz files but the run had {n_ranks} ranks")
    mon = SpikeMonitor(name, ())
    mon.neuron_ids = np.unique(np.concatenate(neuron_ids))
    mon._mask = np.zeros(n_total, dtype=bool)
    mon._mask[mon.neuron_ids] = True
    t, i = np.concatenate(times), np.concatenate(ids)
    order = np.lexsort((i, t))
    mon._t, mon._i = [t[order]], [i[order]]
    return mon
