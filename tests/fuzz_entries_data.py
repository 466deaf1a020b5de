"""Fuzz census entries: ``neurosim.data`` (files and encoders), ``neurosim.reservoir``, ``neurosim.plot``.

Corrupt files: IDX (``read_idx``, ``load_mnist``), N-MNIST ``.bin`` (``read_nmnist``), ``.npy``
folders (``load_allen_2p_scenes``, ``load_allen_dg``) and NWB (``movie_responses_from_nwb``).
An error about a file must name the file (its path or name).
"""
from __future__ import annotations

import io
import itertools
import struct
from pathlib import Path

import numpy as np
from hypothesis import strategies as st

from fuzz_gen import (A, Arg, Entry, Lazy, Probe, array, boolean, call_probes, choice, corrupt_variants, integer,
                      nonneg, pos, prob, real, seed_arg, write_case)

H3, H4 = "H3", "H4"
_ids = itertools.count()


def _vector_ok(arg: Arg, label: str, vector) -> Arg:
    """``arg`` (a 2-D array argument) whose documented 1-D form is valid: its "rank 1" bad
    case becomes ``vector`` (label ``label``), expected to give a clear error or a correct result."""
    return Arg(arg.valid, st.one_of(arg.bad.filter(lambda b: not b[0].startswith("rank 1")),
                                    st.just((label, vector, "either"))), arg.names)


def _upper_nan_ok(arg: Arg) -> Arg:
    """``arg`` (an accuracy matrix R) whose NaN above the diagonal is documented valid (tasks not
    yet trained, as continual runs leave them): such a case becomes "either" (error or result)."""
    def relabel(b):
        label, value, expect = b
        a = value.build() if isinstance(value, A) else value
        if (isinstance(a, np.ndarray) and a.dtype.kind == "f" and a.ndim == 2
                and a.shape[0] == a.shape[1]):
            bad = ~np.isfinite(a)
            if bad.any() and np.isnan(a[bad]).all() and not np.tril(bad).any():
                return (label + " (above the diagonal: valid)", value, "either")
        return b
    return Arg(arg.valid, arg.bad.map(relabel), arg.names)


# ------------------------------------------------------------------------------------ files

def _idx_bytes(a: np.ndarray) -> bytes:
    code = {np.uint8: 0x08, np.int8: 0x09, np.int16: 0x0B, np.int32: 0x0C, np.float32: 0x0D,
            np.float64: 0x0E}[a.dtype.type]
    return (bytes([0, 0, code, a.ndim]) + b"".join(struct.pack(">I", d) for d in a.shape)
            + a.astype(a.dtype.newbyteorder(">")).tobytes())


def _file_probes(tmp, fname, valid: bytes, call, *, suffix="", text_ok=False, check=None, names=()):
    """Probes calling ``call(path)`` on variants of one file (errors must name the file)."""
    def make(case):
        folder = Path(tmp) / f"p{next(_ids)}"
        name = f"{fname}{suffix}"

        def thunk():
            path = write_case(case, folder, name)
            out = call(path)
            return out if check is None else (out, path)

        chk = None if check is None else (lambda out: check(out[0], out[1]))
        return Probe(f"{fname}: {case.label}", thunk, case.expect, (name, str(folder / name)) + tuple(names),
                     chk, f"<{case.label} at {folder / name}>")

    return corrupt_variants(valid, suffix=suffix, text_ok=text_ok).map(make)


def _folder_probes(tmp, files: dict, target: str, call, *, names=()):
    """Probes calling ``call(folder)`` where ``files`` are written valid, except ``target`` varied."""
    def make(case):
        folder = Path(tmp) / f"p{next(_ids)}"

        def thunk():
            for n, b in files.items():
                if n != target:
                    (folder / n).parent.mkdir(parents=True, exist_ok=True)
                    (folder / n).write_bytes(b)
            write_case(case, (folder / target).parent, Path(target).name)
            return call(folder)

        return Probe(f"{target}: {case.label}", thunk, case.expect,
                     (Path(target).name, str(folder / target)) + tuple(names), None,
                     f"<folder {folder} with {target} = {case.label}>")

    return corrupt_variants(files[target]).map(make)


def _npy(a) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a)
    return buf.getvalue()


def _allen_2p_files():
    rng = np.random.default_rng(0)
    scenes = rng.integers(0, 255, size=(6, 9)).astype(np.float64)
    return {"allen_natural_scenes_visp_2p/all_input_scenes_118_961.npy": _npy(scenes),
            "allen_natural_scenes_visp_2p/Allen_train_input.npy": _npy(scenes[:4]),
            "allen_natural_scenes_visp_2p/Allen_train_output.npy": _npy(rng.normal(size=(4, 5))),
            "allen_natural_scenes_visp_2p/Allen_test_input.npy": _npy(scenes[4:]),
            "allen_natural_scenes_visp_2p/Allen_test_output.npy": _npy(rng.normal(size=(2, 5)))}


def _allen_dg_files():
    rng = np.random.default_rng(1)
    st_ = np.sort(rng.uniform(0, 0.1, 40))
    ii = np.zeros((4, 3, 2), dtype=np.int64)
    ii[..., 0] = np.arange(12).reshape(4, 3) * 3
    ii[..., 1] = ii[..., 0] + 3
    return {"allen_neuropixels_dg_spyketools/spike_times.npy": _npy(st_),
            "allen_neuropixels_dg_spyketools/ii_spike_times.npy": _npy(ii),
            "allen_neuropixels_dg_spyketools/stim_label.npy": _npy(np.array([0, 45, 0, 45]))}


def _nmnist_bytes():
    from neurosim.data.events import EVENT_DTYPE, encode_nmnist

    ev = np.zeros(20, dtype=EVENT_DTYPE)
    rng = np.random.default_rng(2)
    ev["x"], ev["y"] = rng.integers(0, 34, 20), rng.integers(0, 34, 20)
    ev["t"], ev["p"] = np.sort(rng.integers(0, 300000, 20)), rng.integers(0, 2, 20)
    return encode_nmnist(ev)


def _check_events(ev, path=None):
    if ev.size == 0:
        return "no events read from a file (an empty recording must be an error)"
    if ev["x"].min() < 0 or ev["x"].max() > 33 or ev["y"].min() < 0 or ev["y"].max() > 33:
        return f"event coordinates outside the 34x34 sensor (x max {ev['x'].max()}, y max {ev['y'].max()})"
    if np.any(np.diff(ev["t"]) < 0):
        return "timestamps not sorted"
    return None


def _nwb_variants(tmp):
    """NWB-ish files: random bytes, an HDF5 file that is not NWB, an NWB file without units."""
    import h5py

    @st.composite
    def strat(draw):
        kind = draw(st.sampled_from(["random", "empty", "text", "hdf5", "nwb_empty", "truncated_hdf5", "missing"]))
        folder = Path(tmp) / f"p{next(_ids)}"
        path = folder / "session.nwb"

        def thunk():
            folder.mkdir(parents=True, exist_ok=True)
            if kind == "random":
                path.write_bytes(np.random.default_rng(3).bytes(2000))
            elif kind == "empty":
                path.write_bytes(b"")
            elif kind == "text":
                path.write_text("not an nwb file\n")
            elif kind in ("hdf5", "truncated_hdf5"):
                with h5py.File(path, "w") as f:
                    f["x"] = np.arange(100)
                if kind == "truncated_hdf5":
                    path.write_bytes(path.read_bytes()[:700])
            elif kind == "nwb_empty":
                _minimal_nwb(path)
            from neurosim.data import movie_responses_from_nwb
            return movie_responses_from_nwb(path)

        return Probe(f"NWB: {kind}", thunk, "error", ("session.nwb", str(path)), None, f"<{kind} NWB at {path}>")

    return strat()


def _minimal_nwb(path):
    from datetime import datetime, timezone

    from pynwb import NWBHDF5IO, NWBFile

    f = NWBFile(session_description="fuzz", identifier="fuzz", session_start_time=datetime.now(timezone.utc))
    with NWBHDF5IO(str(path), "w") as io_:
        io_.write(f)


def _data_entries():
    import neurosim.data as D
    from neurosim.data.events import EVENT_DTYPE

    img = np.random.default_rng(0).integers(0, 255, (3, 28, 28)).astype(np.uint8)
    lab = np.array([1, 2, 3], dtype=np.uint8)
    mnist_files = {"mnist/train-images-idx3-ubyte": _idx_bytes(img), "mnist/train-labels-idx1-ubyte": _idx_bytes(lab)}

    def events(n, seed):
        ev = np.zeros(n, dtype=EVENT_DTYPE)
        r = np.random.default_rng(seed)
        ev["x"], ev["y"] = r.integers(0, 34, n), r.integers(0, 34, n)
        ev["t"], ev["p"] = np.sort(r.integers(0, 100000, n)), r.integers(0, 2, n)
        return ev

    def bad_events(kind):
        ev = events(10, 0)
        if kind == "x out of range":
            ev["x"][3] = 40
        elif kind == "negative t":
            ev["t"][0] = -5
        elif kind == "unsorted t":
            ev["t"] = ev["t"][::-1]
        elif kind == "plain array":
            return np.ones((10, 4))
        elif kind == "polarity 3":
            ev["p"][2] = 3
        return ev

    def images(any_shape=False):
        # the encoders take images of any shape, with intensities in [0, 1] (integer images other than
        # uint8 too, so the int64 draws of 0..9 that array() makes are not valid images for them)
        return array(st.tuples(st.integers(1, 4), st.integers(2, 8), st.integers(2, 8)), lo=0.0, hi=1.0,
                     empty=("either",), ndim_bad=not any_shape, int_ok=not any_shape)
    return [
        Entry("data.read_idx", H3, lambda tmp: _file_probes(tmp, "images-idx3-ubyte", _idx_bytes(img), D.read_idx)),
        Entry("data.load_mnist (corrupt IDX)", H3, lambda tmp: st.sampled_from(sorted(mnist_files)).flatmap(
            lambda t: _folder_probes(tmp, mnist_files, t, lambda root: D.load_mnist("mnist", "train", root)))),
        Entry("data.read_nmnist", H3, lambda tmp: _file_probes(tmp, "00001", _nmnist_bytes(), D.read_nmnist,
                                                               suffix=".bin", check=lambda ev, p: _check_events(ev))),
        Entry("data.load_allen_2p_scenes (.npy)", H3, lambda tmp: st.sampled_from(sorted(_allen_2p_files())).flatmap(
            lambda t: _folder_probes(tmp, _allen_2p_files(), t, D.load_allen_2p_scenes))),
        Entry("data.load_allen_dg (.npy)", H3, lambda tmp: st.sampled_from(sorted(_allen_dg_files())).flatmap(
            lambda t: _folder_probes(tmp, _allen_dg_files(), t, D.load_allen_dg))),
        Entry("data.movie_responses_from_nwb", H3, _nwb_variants, weight=0.5),
        Entry("data.events_to_frames", H3, lambda tmp: call_probes(
            "events_to_frames", D.events_to_frames,
            {"events": Arg(st.integers(0, 30).map(lambda n: Lazy(f"events({n})", lambda n=n: events(n, n))),
                           st.sampled_from([(k, Lazy(f"<events {k}>", lambda k=k: bad_events(k)),
                                             "either" if k in ("negative t", "unsorted t") else "error")
                                            for k in ("x out of range", "negative t", "unsorted t", "plain array",
                                                      "polarity 3")])),
             "n_bins": integer(1, 8, min_value=1, huge=(10 ** 12,)),
             "polarity": choice(("split", "merge", "on", "off")), "binarize": boolean()})),
        Entry("data.rate_encode", H3, lambda tmp: call_probes(
            "rate_encode", D.rate_encode, {"images": images(any_shape=True),
                                           "n_steps": integer(1, 8, min_value=1, huge=(10 ** 12,)),
                                           "rng": seed_arg(), "gain": prob(0.0, 1.0, open_low=True)},
            check=lambda s, kw: None if set(np.unique(s)) <= {0, 1} else "rate code is not binary")),
        Entry("data.latency_encode", H3, lambda tmp: call_probes(
            "latency_encode", D.latency_encode,
            {"images": images(any_shape=True), "n_steps": integer(1, 8, min_value=1, huge=(10 ** 12,)),
             "threshold": prob(0.0, 0.5), "mode": choice(("linear", "log")), "tau": pos(0.5, 10.0)},
            check=lambda s, kw: None if np.all(np.asarray(s).sum(axis=0) <= 1) else "more than one spike per pixel")),
        Entry("data.drifting_grating", H3, lambda tmp: call_probes(
            "drifting_grating", D.drifting_grating,
            {"n_frames": integer(1, 6, min_value=1, huge=(10 ** 10,)),
             "size": Arg(st.sampled_from([(8, 8), (4, 6)]), st.sampled_from([("(0, 8)", (0, 8), "error"),
                                                                             ("(-1, 4)", (-1, 4), "error"),
                                                                             ("'big'", "big", "error"),
                                                                             ("(8,)", (8,), "error"),
                                                                             ("(10**6, 10**6)", (10 ** 6, 10 ** 6),
                                                                              "either")])),
             "direction_deg": real(0.0, 360.0), "spatial_freq_cpd": pos(0.01, 0.2),
             "temporal_freq_hz": nonneg(0.0, 4.0), "frame_rate_hz": pos(10.0, 60.0)})),
        Entry("data.to_model_input", H3, lambda tmp: call_probes(
            "to_model_input", D.to_model_input,
            {"frames": images(), "channels": integer(1, 3, min_value=1), "scale": pos(0.5, 2.0),
             "mean": real(0.0, 1.0), "std": pos(0.1, 1.0)})),
        Entry("data.make_digits", H3, lambda tmp: call_probes(
            "make_digits", D.make_digits,
            {"n": integer(1, 6, min_value=1, huge=(10 ** 11,)), "rng": seed_arg(),
             "size": integer(12, 28, min_value=12), "jitter": nonneg(0.0, 0.1), "noise": nonneg(0.0, 0.1)},
            check=lambda r, kw: None if r[0].shape[0] == kw["n"] and np.all(r[1] < 10) else "bad digits")),
        Entry("data.load_dataset", H3, lambda tmp: call_probes(
            "load_dataset", D.load_dataset,
            {"name": choice(("embedded",)), "split": choice(("train", "test")),
             "limit": Arg(st.one_of(st.none(), st.integers(1, 20)), integer(1, 5, min_value=1, allow_none=True).bad),
             "seed": integer(0, 5, min_value=0)})),
    ]


# -------------------------------------------------------------------------------- reservoir

def _reservoir_run(cls, kw, u):
    node = cls(**kw)
    return node.run(u)


def _reservoir_entries():
    import neurosim.reservoir as R

    # u [T] is documented valid for Node.run (a scalar input sequence, taken as [T, 1])
    u_arg = _vector_ok(array(st.tuples(st.integers(1, 20), st.integers(1, 3)), lo=-1.0, hi=1.0, empty=("either",)),
                       "a vector [12] (one input channel)", A((12,), 3))

    def node_entry(name, cls, args):
        def call(u, **kw):
            return cls(**kw).run(u)
        return Entry(f"reservoir.{name}", H4, lambda tmp: call_probes(
            name, call, {"u": u_arg, **args}))

    return [
        node_entry("LSM", R.LSM, {"units": integer(2, 30, min_value=1, huge=(10 ** 7,)),
                                  "density": prob(0.05, 1.0, open_low=True), "decay": prob(0.1, 1.0, open_low=True),
                                  "v_th": pos(0.5, 5.0), "reset": choice(("zero", "subtract")),
                                  "input_scale": pos(0.1, 2.0), "rng": seed_arg()}),
        node_entry("EIReservoir", R.EIReservoir, {"units": integer(2, 30, min_value=1, huge=(10 ** 7,)),
                                                  "frac_exc": prob(0.2, 0.9, open_low=True, open_high=True),
                                                  "leak": prob(0.1, 1.0, open_low=True),
                                                  "exc_scale": nonneg(0.0, 2.0), "bias": real(-1.0, 1.0),
                                                  "eta": nonneg(0.0, 0.1), "rng": seed_arg()}),
        node_entry("IzhikevichReservoir", R.IzhikevichReservoir,
                   {"units": integer(2, 30, min_value=1, huge=(10 ** 7,)), "w_exc": nonneg(0.0, 1.0),
                    "input_scale": nonneg(0.0, 20.0), "noise_exc": nonneg(0.0, 5.0),
                    "tau_trace": pos(1.0, 50.0, list_ok=True),  # a (lo, hi) list is documented valid
                    "rng": seed_arg()}),
        Entry("reservoir.Ridge", H4, lambda tmp: call_probes(
            "Ridge(alpha).fit(X, Y).predict(X)", lambda alpha, X, Y: R.Ridge(alpha).fit(X, Y).predict(X),
            {"alpha": nonneg(1e-8, 1.0), "X": array((12, 4)),
             "Y": Arg(array((12, 2)).valid, st.one_of(array((12, 2), shapes_bad=[("rows", (11, 2))]).bad.filter(
                 lambda b: not b[0].startswith("rank 1")), st.just(("a vector [12]", A((12,), 3), "either"))))})),
        Entry("reservoir.RidgeCV", H4, lambda tmp: call_probes(
            "RidgeCV(alphas, k).fit(X, Y)", lambda alphas, k, X, Y: R.RidgeCV(alphas, k=k).fit(X, Y).predict(X),
            {"alphas": Arg(st.just((1e-3, 1.0)), st.sampled_from([("()", (), "error"), ("(-1,)", (-1.0,), "error"),
                                                                 ("(nan,)", (float("nan"),), "error")])),
             "k": integer(2, 4, min_value=2), "X": array((12, 4)),
             # a vector Y (one target) is valid, as for Ridge: RidgeCV.fit passes it to Ridge.fit
             "Y": _vector_ok(array((12, 2)), "a vector [12]", A((12,), 3))})),
        Entry("reservoir.memory_capacity", H4, lambda tmp: call_probes(
            "memory_capacity", R.memory_capacity,
            {"states": array((60, 5)), "u": array((60,), shapes_bad=[("length", (59,))]),
             "max_delay": integer(1, 5, min_value=1), "washout": integer(0, 10, min_value=0),
             "train_frac": prob(0.3, 0.7, open_low=True, open_high=True)})),
        Entry("reservoir.nrmse", H4, lambda tmp: call_probes(
            "nrmse", R.nrmse, {"y": array((10,)), "y_hat": array((10,), shapes_bad=[("length", (9,))])})),
        Entry("reservoir.separation", H4, lambda tmp: call_probes(
            "separation", R.separation,
            {"features": array((8, 3)), "labels": Arg(st.just(np.array([0, 1] * 4)),
                                                      st.sampled_from([("[0]*8", np.zeros(8, int), "either"),
                                                                       ("length 7", np.arange(7), "error"),
                                                                       ("floats", np.linspace(0, 1, 8), "either")]))})),
        Entry("reservoir.narma10 / mackey_glass", H4, lambda tmp: call_probes(
            "mackey_glass", R.mackey_glass,
            {"n_samples": integer(1, 50, min_value=1, huge=(10 ** 12,)),
             "tau": Arg(st.integers(1, 20).map(float), pos().bad),  # tau and dt: multiples of dt
             "beta": pos(0.1, 0.3), "gamma": pos(0.05, 0.2), "dt": Arg(st.sampled_from([0.25, 0.5, 1.0]), pos().bad),
             "discard": integer(0, 5, min_value=0)})),
        Entry("reservoir.timing_task", H4, lambda tmp: call_probes(
            "timing_task", R.timing_task,
            {"n_trials": integer(1, 4, min_value=1, huge=(10 ** 10,)), "trial_len": integer(250, 400, min_value=1),
             "cue_len": integer(1, 10, min_value=1), "cue_amp": real(0.5, 2.0)})),
        Entry("reservoir.sparse_weights", H4, lambda tmp: call_probes(
            "sparse_weights", R.sparse_weights,
            {"n_out": integer(1, 10, min_value=1, huge=(10 ** 7,)), "n_in": integer(1, 10, min_value=1),
             "density": prob(0.0, 1.0, open_low=True), "rng": seed_arg(), "dist": choice(("normal", "uniform"))})),
        Entry("reservoir.scale_spectral_radius", H4, lambda tmp: call_probes(
            "scale_spectral_radius", R.scale_spectral_radius,
            {"w": array((5, 5), shapes_bad=[("not square", (5, 4))]), "rho": pos(0.1, 2.0)})),
        Entry("reservoir.ResistiveDevice", H4, lambda tmp: call_probes(
            "ResistiveDevice(...).program((4, 4))", lambda **kw: R.ResistiveDevice(**kw).program((4, 4), rng=0),
            {"g_lrs": pos(20.0, 50.0), "g_hrs": pos(1.0, 10.0), "sigma_lrs": nonneg(0.0, 0.5),
             "p_set": prob(), "n_levels": Arg(st.one_of(st.none(), st.integers(2, 16)),
                                             integer(2, 4, min_value=2, allow_none=True).bad)})),
    ]


# ------------------------------------------------------------------------------------- plot

def _plot_entries():
    import neurosim.plot as P
    from neurosim.plot.accuracy import plot_accuracy_matrix, plot_accuracy_vs_timesteps
    from neurosim.plot.rsa import plot_rdm, plot_score_heatmap

    times = array((20,), lo=0.0, hi=100.0, empty=("either",), int_ok=False)
    ids = Arg(st.just(np.arange(20) % 5), st.sampled_from([("negative ids", np.arange(20) - 3, "error"),
                                                           ("float ids", np.linspace(0, 4, 20), "either"),
                                                           ("length 19", np.arange(19) % 5, "error"),
                                                           ("NaN ids", np.full(20, np.nan), "error")]))
    return [
        Entry("plot.raster", H4, lambda tmp: call_probes(
            "raster", P.raster, {"times_ms": times, "ids": ids,
                                 "n_neurons": Arg(st.one_of(st.none(), st.just(5)),
                                                  integer(5, 5, min_value=1, allow_none=True).bad)}), weight=0.5),
        Entry("plot.population_rate", H4, lambda tmp: call_probes(
            "population_rate", P.population_rate,
            {"times_ms": times, "n_neurons": integer(1, 10, min_value=1), "duration_ms": pos(50.0, 200.0),
             "bin_ms": pos(1.0, 20.0)})),
        Entry("plot.traces", H4, lambda tmp: call_probes(
            "traces", P.traces, {"t_ms": array((10,), lo=0.0, hi=10.0, int_ok=False),
                                 # values [T] is documented valid (one trace)
                                 "values": _vector_ok(array((10, 2), shapes_bad=[("rows", (9, 2))]),
                                                      "a vector [10] (one trace)", A((10,), 3))}), weight=0.5),
        Entry("plot.plot_rdm", H4, lambda tmp: call_probes(
            "plot_rdm", plot_rdm, {"rdm": Arg(st.just(Lazy("RDM(np.arange(6.0))", lambda: _rdm())),
                                              st.sampled_from([("a list", [1, 2, 3], "either"), ("None", None, "error"),
                                                               ("a 3-D array", np.ones((2, 2, 2)), "error"),
                                                               ("NaN matrix", np.full((3, 3), np.nan), "error")])),
                                   "rank": boolean()}), weight=0.5),
        Entry("plot.plot_accuracy_matrix", H4, lambda tmp: call_probes(
            "plot_accuracy_matrix", plot_accuracy_matrix,
            {"R": _upper_nan_ok(array((3, 3), lo=0.0, hi=1.0, shapes_bad=[("not square", (3, 2))]))}), weight=0.5),
        Entry("plot.plot_accuracy_vs_timesteps", H4, lambda tmp: call_probes(
            "plot_accuracy_vs_timesteps", plot_accuracy_vs_timesteps,
            {"timesteps": Arg(st.just([4, 8, 16]), st.sampled_from([
                ("a zero T", [0, 8, 16], "error"), ("not increasing", [8, 4, 16], "error"),
                ("fractional", [1.5, 8, 16], "error"), ("NaN", [np.nan, 8, 16], "error"),
                ("a string", "4,8,16", "error"), ("empty", [], "error")])),
             "accuracy": Arg(st.just([0.5, 0.8, 0.9]), st.sampled_from([
                 ("percent", [50, 80, 90], "error"), ("length 2", [0.5, 0.8], "error"),
                 ("NaN", [np.nan, 0.8, 0.9], "error"), ("negative", [-0.1, 0.8, 0.9], "error"),
                 ("2-D", [[0.5, 0.8, 0.9]], "error")])),
             "ann_acc": Arg(st.one_of(st.none(), st.just(0.95)), st.sampled_from([
                 ("percent", 95.0, "error"), ("NaN", float("nan"), "error"), ("a string", "0.9", "error"),
                 ("a list", [0.9], "error")]))}), weight=0.5),
        Entry("plot.plot_score_heatmap", H4, lambda tmp: call_probes(
            "plot_score_heatmap", plot_score_heatmap,
            {"result": Arg(st.just(Lazy("TSRSAResult(...)", lambda: _tsrsa_result())),
                           st.sampled_from([("None", None, "error"), ("a dict", {"a": 1}, "error"),
                                            ("an array", np.ones((2, 2)), "either")]))}), weight=0.5),
    ]


def _rdm():
    from neurosim.rsa import RDM

    return RDM(np.arange(6.0))


def _tsrsa_result():
    from neurosim.rsa import TSRSAResult

    return TSRSAResult(np.array([[0.1, 0.2]]), ("l1",), ("VISp", "VISl"))


def entries():
    return _data_entries() + _reservoir_entries() + _plot_entries()
