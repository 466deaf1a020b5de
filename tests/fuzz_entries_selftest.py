"""Entries with known outcomes, for the census's own test (``tests/test_fuzz_census.py``)."""
from __future__ import annotations

import os
import time

import numpy as np
from hypothesis import strategies as st

from fuzz_gen import Entry, Probe


def _probe(label, fn, expect="ok", names=("x",)):
    return Probe(label, fn, expect, names, None, label)


def _raise_named():
    raise ValueError("x must be > 0, got -1")


def _raise_unnamed():
    raise ValueError("something went wrong")


def _zero_division():
    return 1 / 0


def _allocate():
    return np.ones(2 ** 40)  # 8 TiB: MemoryError under the worker's address-space limit


def entries():
    return [
        Entry("self.clear", "self", lambda tmp: st.just(_probe("x=-1", _raise_named, "error"))),
        Entry("self.correct", "self", lambda tmp: st.just(_probe("valid", lambda: np.ones(3)))),
        Entry("self.crash", "self", lambda tmp: st.sampled_from([_probe("1/0", _zero_division),
                                                                 _probe("unnamed", _raise_unnamed, "error")])),
        Entry("self.silent", "self", lambda tmp: st.sampled_from([_probe("nan", lambda: np.array([np.nan])),
                                                                  _probe("accepts", lambda: 1.0, "error")])),
        Entry("self.hang", "self", lambda tmp: st.just(_probe("sleep", lambda: time.sleep(60))), timeout=1.0),
        Entry("self.memory", "self", lambda tmp: st.just(_probe("8 TiB", _allocate, "either"))),
        Entry("self.dies", "self", lambda tmp: st.just(_probe("os._exit", lambda: os._exit(3)))),
        Entry("self.after", "self", lambda tmp: st.just(_probe("valid", lambda: 2.0))),
    ]
