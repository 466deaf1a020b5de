"""NEST in its own process: the worker a ``NestNetwork`` talks to.

NEST's wheel brings its own GNU OpenMP runtime, and so does PyTorch; once both are loaded in one
process, ``nest.ResetKernel()`` after any multi-threaded torch operator crashes the process
(segmentation fault; reproduced with NEST 3.10 and torch 2.13: ``import nest``, a torch matmul,
``nest.ResetKernel()``). A notebook that trains an SNN and then runs a network on NEST would die.
So NEST never runs in the caller's process: ``NestNetwork`` starts this module as a child
(``python -m neurosim.sim.nest.worker FD``), sends it the network spec (plain numpy values) and
calls the operations below over a socket; NEST's node handles stay in the child. Each
``NestNetwork`` has its own child, hence its own NEST kernel. The child ignores SIGINT (the parent
decides: Ctrl-C in the parent kills it) and exits when the parent's end of the socket closes.

The child imports ``nest``, numpy and :mod:`neurosim.sim.nest.build` (numpy + nest only), never torch.
"""
from __future__ import annotations

import signal
import subprocess
import sys
import time
from multiprocessing.connection import Connection

import numpy as np

__all__ = ["Worker", "OPS"]


def _build(state, spec, threads, seed):
    import nest

    from neurosim.sim.nest import build as _b

    nest.verbosity = nest.VerbosityLevel.ERROR
    state.update(nest=nest, spec=spec, handles=_b.build(nest, spec, threads=threads, seed=seed))
    h = state["handles"]
    return {"build_s": h["build_s"], "min_delay": float(nest.GetKernelStatus("min_delay")),
            "gids": {k: np.asarray(v) for k, v in h["gids"].items()}}


def _simulate(state, ms):
    t0 = time.perf_counter()
    state["nest"].Simulate(ms)
    return time.perf_counter() - t0


def _stdp_events(state):
    rec = state["handles"].get("stdp_recorder")
    if rec is None:
        return None
    ev = rec.get("events")
    rec.set({"n_events": 0})
    return np.asarray(ev["times"], float), np.asarray(ev["senders"], np.int64)


def _take_spikes(state, name):
    from neurosim.sim.nest import build as _b

    return _b.take_spikes(state["spec"], state["handles"], name)


def _take_samples(state, name):
    from neurosim.sim.nest import build as _b

    return _b.take_samples(state["spec"], state["handles"], name)


def _connection_weights(state, name):
    from neurosim.sim.nest import build as _b

    return _b.connection_weights(state["nest"], state["spec"], state["handles"], name)


def _stdp_connections(state, name, keys):
    """``{key: array}`` of NEST's connections of synapse group ``name`` (``source``, ``target``, ``Kplus`` ...)."""
    conns = state["nest"].GetConnections(synapse_model=state["handles"]["synapse_models"][name])
    st = conns.get(list(keys)) if len(conns) else {k: [] for k in keys}
    return {k: np.atleast_1d(np.asarray(st[k])) for k in keys}


OPS = {"build": _build, "simulate": _simulate, "stdp_events": _stdp_events, "take_spikes": _take_spikes,
       "take_samples": _take_samples, "connection_weights": _connection_weights,
       "stdp_connections": _stdp_connections}


def main(argv=None) -> None:
    """Serve requests ``(op, args)`` on the socket whose descriptor is ``argv[0]`` until it closes."""
    argv = sys.argv[1:] if argv is None else argv
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    conn = Connection(int(argv[0]))
    state = {}
    while True:
        try:
            op, args = conn.recv()
        except (EOFError, OSError):
            return
        try:
            conn.send(("ok", OPS[op](state, *args)))
        except Exception as exc:  # the parent re-raises it with NEST's message
            conn.send(("error", type(exc).__name__, str(exc)))


class Worker:
    """A child process running NEST (see the module docstring): ``call(op, *args)``."""

    def __init__(self):
        import socket

        parent, child = socket.socketpair()
        from neurosim.config import child_env

        env = child_env(sys.path)
        fd = child.fileno()
        self.proc = subprocess.Popen([sys.executable, "-m", "neurosim.sim.nest.worker", str(fd)], pass_fds=(fd,),
                                     env=env, stdin=subprocess.DEVNULL)
        child.close()
        self.conn = Connection(parent.detach())

    def call(self, op: str, *args):
        """Run ``op`` in the child; NEST's errors come back as ``RuntimeError`` (``ValueError`` for bad values)."""
        try:
            self.conn.send((op, args))
            reply = self.conn.recv()
        except KeyboardInterrupt:
            self.close()
            raise
        except (EOFError, OSError, BrokenPipeError):
            code = self.proc.poll()
            self.close()
            raise RuntimeError(f"the NEST process ended unexpectedly (exit code {code}) during {op!r}") from None
        if reply[0] == "ok":
            return reply[1]
        _, kind, msg = reply
        raise (ValueError if kind == "ValueError" else RuntimeError)(f"NEST ({kind}) during {op!r}: {msg}")

    def close(self) -> None:
        """Stop the child (idempotent)."""
        try:
            self.conn.close()
        except OSError:
            pass
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def __del__(self):
        try:
            self.close()
        except Exception:  # interpreter shutdown
            pass


if __name__ == "__main__":
    main()
