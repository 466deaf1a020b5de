"""Generators for the fuzz census (``tests/fuzz_census.py``): probes, argument specs, bad values.

A :class:`Probe` is one generated input to one entry point: a thunk that makes the call, what
the input is (``expect``: ``"ok"`` a valid input that must give a correct result, ``"error"``
an invalid one that must give a clear error naming one of ``names``, ``"either"`` a legal but
extreme input where both are fine), an optional independent check of the result, and a
one-line reproducer.

Arguments are described by :class:`Arg` objects (valid values + bad values, each bad value
labelled and classified); :func:`call_probes` turns a function and a dict of ``Arg`` into a
hypothesis strategy of probes that either leaves every argument valid or corrupts exactly one.
Arrays are built from a reproducible recipe (:func:`arr`), so a reproducer is exact code.
"""
from __future__ import annotations

import math
import re
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
from hypothesis import strategies as st

NAN, INF = float("nan"), float("inf")


@dataclass
class Entry:
    """One entry point of the census: ``make(tmp_dir)`` returns a strategy of :class:`Probe`."""

    name: str
    owner: str
    make: Callable
    weight: float = 1.0          # scales the example budget (expensive entries < 1)
    timeout: float | None = None

    def strategy(self, tmp):
        return self.make(tmp)

    def examples(self, n: int) -> int:
        return max(2, int(round(n * self.weight)))


@dataclass
class Probe:
    """One generated input (see the module docstring)."""

    label: str
    call: Callable[[], Any]
    expect: str = "ok"                 # "ok" | "error" | "either"
    names: tuple = ()                  # names an error message may mention (any one suffices)
    check: Callable[[Any], str | None] | None = None   # independent check of a result
    repro: str = ""
    allow_nonfinite: bool = False      # NaN/inf in the result are documented (e.g. omitted pairs)
    timeout: float | None = None       # per-call limit override (s)


# ---------------------------------------------------------------------------------------------
# reproducible arrays

def arr(shape, seed=0, *, lo=-1.0, hi=1.0, dtype="float64", layout="C", readonly=False, fill=None,
        bad_at=None, bad=None, integers=False):
    """Array from a recipe: uniform [lo, hi) (or ``fill``), cast to ``dtype``, optional layout.

    ``layout``: ``"C"``, ``"F"`` (Fortran order) or ``"strided"`` (a view with stride 2 along
    the last axis). ``bad_at``/``bad``: put ``bad`` (NaN, inf ...) at a flat index.
    """
    shape = tuple(int(s) for s in shape)
    rng = np.random.default_rng(seed)
    if layout == "strided" and len(shape):
        big = shape[:-1] + (2 * shape[-1],)
        a = arr(big, seed, lo=lo, hi=hi, dtype=dtype, fill=fill, integers=integers)[..., ::2]
    else:
        if fill is not None:
            a = np.full(shape, fill, dtype=np.float64)
        elif integers:
            a = rng.integers(int(lo), int(hi) + 1, size=shape).astype(np.float64)
        else:
            a = rng.uniform(lo, hi, size=shape)
        a = a.astype(dtype) if np.dtype(dtype).kind != "O" else a.astype(object)
        if layout == "F":
            a = np.asfortranarray(a)
    if bad_at is not None and a.size:
        a = np.array(a, copy=True, order="K") if layout != "strided" else a
        a.flat[int(bad_at) % a.size] = bad
    if readonly:
        a.setflags(write=False)
    return a


def arr_code(shape, seed=0, **kw) -> str:
    parts = [repr(tuple(int(s) for s in shape)), str(seed)] + [f"{k}={_fmt(v)}" for k, v in kw.items()]
    return f"arr({', '.join(parts)})"


class A:
    """An array recipe: ``A(shape, seed, **kw).build()``; its repr is the code that builds it."""

    def __init__(self, shape, seed=0, **kw):
        self.shape, self.seed, self.kw = tuple(int(s) for s in shape), seed, kw

    def build(self):
        return arr(self.shape, self.seed, **self.kw)

    def __repr__(self):
        return arr_code(self.shape, self.seed, **self.kw)


def _fmt(v) -> str:
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, np.ndarray):
        if v.size <= 12 and v.dtype.kind in "biuf":
            return f"np.array({v.tolist()!r}, dtype='{v.dtype}')"
        return f"<{v.dtype} array {v.shape}>"
    if isinstance(v, np.random.Generator):
        return "np.random.default_rng(0)"
    if isinstance(v, (list, tuple)):
        inner = ", ".join(_fmt(x) for x in v)
        return f"[{inner}]" if isinstance(v, list) else f"({inner}{',' if len(v) == 1 else ''})"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k!r}: {_fmt(x)}" for k, x in v.items()) + "}"
    if type(v).__name__ == "object":
        return "object()"
    if isinstance(v, np.random.RandomState):
        return "np.random.RandomState(0)"
    return repr(v)


class Lazy:
    """A value built at call time (``builder()``), shown as ``code`` in reproducers."""

    def __init__(self, code: str, builder):
        self.code, self.builder = code, builder

    def build(self):
        return self.builder()

    def __repr__(self):
        return self.code


def materialise(v):
    """Build array recipes and lazy values (also inside lists, tuples and dicts)."""
    if isinstance(v, (A, Lazy)):
        return v.build()
    if isinstance(v, list):
        return [materialise(x) for x in v]
    if isinstance(v, tuple) and type(v) is tuple:
        return tuple(materialise(x) for x in v)
    if isinstance(v, dict):
        return {k: materialise(x) for k, x in v.items()}
    return v


def call_code(fname: str, args=(), kwargs=None) -> str:
    parts = [_fmt(a) for a in args] + [f"{k}={_fmt(v)}" for k, v in (kwargs or {}).items()]
    return f"{fname}({', '.join(parts)})"


# ---------------------------------------------------------------------------------------------
# argument specs

@dataclass
class Arg:
    """Valid values (strategy of values) and bad values (strategy of ``(label, value, expect)``)."""

    valid: Any
    bad: Any = None
    names: tuple = ()


WRONG_TYPES = [("str", "1.0"), ("None", None), ("dict", {"a": 1}), ("bytes", b"1"), ("object", object()),
               ("complex", 1 + 2j), ("bool", True)]
WRONG_TYPES_NO_NONE = [w for w in WRONG_TYPES if w[0] != "None"]


def _wrong(types=WRONG_TYPES):
    return st.sampled_from([(f"{name} {v!r}" if name != "object" else "object()", v, "error") for name, v in types])


def _lbl(v):
    return _fmt(v)


def pos(lo=1e-3, hi=100.0, *, allow_none=False, list_ok=False, extreme=True):
    """A finite number > 0."""
    bads = [(_lbl(v), v, "error") for v in (0.0, -1.0, -1e-300, NAN, INF, -INF)]
    if extreme:
        bads += [(_lbl(v), v, "either") for v in (1e-300, 1e300)]
    types = WRONG_TYPES if not allow_none else WRONG_TYPES_NO_NONE
    if not list_ok:
        types = types + [("list", [1.0, 2.0])]
    return Arg(st.floats(lo, hi), st.one_of(st.sampled_from(bads), _wrong(types),
                                             st.floats(max_value=0.0, allow_nan=False, allow_infinity=False)
                                             .map(lambda v: (_lbl(v), v, "error"))))


def nonneg(lo=0.0, hi=100.0, *, allow_none=False, extreme=True):
    bads = [(_lbl(v), v, "error") for v in (-1.0, -1e-300, NAN, INF, -INF)]
    if extreme:
        bads += [(_lbl(v), v, "either") for v in (1e300,)]
    types = (WRONG_TYPES if not allow_none else WRONG_TYPES_NO_NONE) + [("list", [1.0, 2.0])]
    return Arg(st.floats(lo, hi), st.one_of(st.sampled_from(bads), _wrong(types)))


def real(lo=-100.0, hi=100.0, *, allow_none=False, extreme=True, list_ok=False):
    bads = [(_lbl(v), v, "error") for v in (NAN, INF, -INF)]
    if extreme:
        bads += [(_lbl(v), v, "either") for v in (1e300, -1e300)]
    types = WRONG_TYPES if not allow_none else WRONG_TYPES_NO_NONE
    if not list_ok:
        types = types + [("list", [1.0, 2.0])]
    return Arg(st.floats(lo, hi), st.one_of(st.sampled_from(bads), _wrong(types)))


def prob(lo=0.0, hi=1.0, *, open_low=False, open_high=False):
    bads = [(_lbl(v), v, "error") for v in (-0.1, 1.5, NAN, INF, -INF, -1e-300)]
    if open_low:
        bads.append(("0.0", 0.0, "error"))
    if open_high:
        bads.append(("1.0", 1.0, "error"))
    return Arg(st.floats(lo, hi, exclude_min=open_low, exclude_max=open_high),
               st.one_of(st.sampled_from(bads), _wrong(WRONG_TYPES + [("list", [0.5])])))


def integer(lo, hi, *, min_value=None, huge=(), allow_none=False, max_value=None):
    """An int in [lo, hi] valid; bad: below ``min_value``, above ``max_value``, floats, strings ...;
    ``huge``: legal sizes that must be refused clearly (memory) or handled (``either``)."""
    bads = [(_lbl(v), v, "error") for v in (1.5, NAN, INF, 2.0)]
    if min_value is not None:
        bads += [(repr(v), v, "error") for v in {min_value - 1, min_value - 7, -(2 ** 63)}]
    if max_value is not None:
        bads += [(repr(v), v, "error") for v in {max_value + 1, 2 ** 63}]
    bads += [(f"huge {v}", v, "either") for v in huge]
    types = [t for t in WRONG_TYPES if not (allow_none and t[0] == "None")] + [("list", [1, 2])]
    return Arg(st.integers(lo, hi), st.one_of(st.sampled_from(bads), _wrong(types)))


def choice(options, *, extra_bad=()):
    bads = [(repr(v), v, "error") for v in ("", "nonsense", str(options[0]).upper() + "_X", 3) + tuple(extra_bad)]
    return Arg(st.sampled_from(list(options)),
               st.one_of(st.sampled_from(bads), _wrong([t for t in WRONG_TYPES if t[0] != "str"])))


def boolean():
    return Arg(st.booleans(), None)


def seed_arg():
    """``rng``: None, an int seed or a Generator; bad: negative, float, string, legacy RandomState."""
    bads = [("-1", -1, "error"), ("1.5", 1.5, "error"), ("'seed'", "seed", "error"),
            ("RandomState", np.random.RandomState(0), "error"), ("[1, 2]", [1, 2], "error")]
    return Arg(st.one_of(st.integers(0, 2 ** 32), st.just(None)), st.sampled_from(bads))


def const(value):
    return Arg(st.just(value), None)


def array(shape, *, lo=-1.0, hi=1.0, dtypes=("float64", "float32"), int_ok=True, empty=("error",),
          ndim_bad=True, nan_ok=False, huge=True, layouts=True, extra_bad=(), integers=False,
          shapes_bad=()):
    """Arrays of ``shape`` (a tuple, or a strategy of tuples).

    Valid: uniform values, float32/64 (+ int64 if ``int_ok``), C/F/strided layouts, read-only.
    Bad: NaN/inf/-inf at a random place (error; NaN "either" if ``nan_ok``), wrong rank (error; "either"
    if not ``ndim_bad``, for functions that take any shape), empty (``empty``
    gives the expectation for an empty first axis), object/str/complex dtypes, a plain string,
    ``extra_bad`` ``(label, value, expect)``, and ``shapes_bad`` (label, shape) of wrong sizes.
    Extreme values 1e300 / 1e-300 are ``"either"`` (a clear error or a finite, correct result).
    """
    shape_st = shape if isinstance(shape, st.SearchStrategy) else st.just(tuple(shape))
    seeds = st.integers(0, 2 ** 16)
    dts = list(dtypes) + (["int64"] if int_ok else [])

    @st.composite
    def valid(draw):
        shp = draw(shape_st)
        kw = dict(lo=lo, hi=hi)
        if integers:
            kw["integers"] = True
        dt = draw(st.sampled_from(dts))
        if dt != "float64":
            kw["dtype"] = dt
        if dt.startswith("int"):
            kw.update(lo=min(lo, -9.0) if lo < 0 else lo, hi=max(hi, 9.0), integers=True)
        if layouts:
            lay = draw(st.sampled_from(["C", "C", "F", "strided"]))
            if lay != "C":
                kw["layout"] = lay
            if draw(st.booleans()):
                kw["readonly"] = True
        return A(shp, draw(seeds), **kw)

    @st.composite
    def bad(draw):
        shp = draw(shape_st)
        s = draw(seeds)
        n = int(np.prod(shp)) if len(shp) else 1
        kind = draw(st.sampled_from(["nan", "inf", "-inf", "rank+", "rank-", "empty", "object", "str",
                                     "complex", "string", "huge", "tiny", "scalar"] +
                                    (["extra"] if extra_bad else []) + (["shape"] if shapes_bad else [])))
        exp_nan = "either" if nan_ok else "error"
        if kind in ("nan", "inf", "-inf"):
            v = {"nan": NAN, "inf": INF, "-inf": -INF}[kind]
            exp = exp_nan if kind == "nan" else "error"
            return (f"{kind} in array {shp}", A(shp, s, lo=lo, hi=hi, bad_at=draw(st.integers(0, max(n - 1, 0))),
                                                 bad=v), exp if n else "either")
        rank_exp = "error" if ndim_bad else "either"
        if kind == "rank+":
            return (f"rank {len(shp) + 1} array", A(shp + (2,), s, lo=lo, hi=hi), rank_exp)
        if kind == "rank-":
            if len(shp) == 0:
                return ("rank 1 array", A((3,), s), rank_exp)
            # a 0-d array for a 1-D argument may legitimately mean "one value"
            return (f"rank {len(shp) - 1} array", A(shp[:-1], s, lo=lo, hi=hi),
                    "either" if len(shp) == 1 else rank_exp)
        if kind == "empty":
            if not len(shp):
                return ("empty array", A((0,), s), "error")
            return (f"empty array {(0,) + tuple(shp[1:])}", A((0,) + tuple(shp[1:]), s),
                    draw(st.sampled_from(list(empty))))
        if kind == "object":
            return ("object array", A(shp, s, lo=lo, hi=hi, dtype="object"), "either")
        if kind == "str":
            return ("str array", np.full(shp, "a"), "error")
        if kind == "complex":
            return ("complex array", A(shp, s, lo=lo, hi=hi, dtype="complex128"), "error")
        if kind == "string":
            return ("a string", "abc", "error")
        if kind == "huge":
            return ("values 1e300", A(shp, s, fill=1e300), "either")
        if kind == "tiny":
            return ("values 1e-300 (random sign)", A(shp, s, lo=-1e-300, hi=1e-300), "either")
        if kind == "scalar":
            return ("a scalar 1.0", 1.0, "either" if len(shp) <= 1 else "error")
        if kind == "shape":
            label, bshape = draw(st.sampled_from(list(shapes_bad)))
            return (f"shape {bshape} ({label})", A(bshape, s, lo=lo, hi=hi), "error")
        return draw(st.sampled_from(list(extra_bad)))

    return Arg(valid(), bad())


# ---------------------------------------------------------------------------------------------
# probes of one call

def call_probes(fname: str, fn, args: dict, *, ctx=None, check=None, names_extra=(), pre=None,
                allow_nonfinite=False, timeout=None, fixed=None):
    """Strategy of probes for ``fn(**kwargs)`` with ``args`` (``{name: Arg}`` or ``ctx -> dict``).

    Each probe leaves all arguments valid (probability ~1/4) or corrupts exactly one. ``check``
    (``(result, kwargs) -> str | None``) verifies valid results. ``pre(kwargs)`` may turn the
    drawn values into the call's actual arguments (e.g. build a state from a size). ``fixed``
    are keyword arguments passed unchanged.
    """
    ctx_st = ctx if ctx is not None else st.just(None)

    @st.composite
    def strat(draw):
        c = draw(ctx_st)
        spec = args(c) if callable(args) else args
        names = list(spec)
        mutable = [n for n in names if spec[n].bad is not None]
        target = draw(st.sampled_from([None] + mutable)) if mutable else None
        if target is not None and draw(st.integers(0, 3)) == 0:
            target = None
        kwargs, label, expect, err_names = {}, "valid", "ok", tuple(names) + tuple(names_extra)
        for n in names:
            if n == target:
                lab, v, exp = draw(spec[n].bad)
                kwargs[n] = v
                label, expect = f"{n}={lab}", exp
                err_names = spec[n].names or (n,)
            else:
                kwargs[n] = draw(spec[n].valid)
        if fixed:
            kwargs.update(fixed)
        repro = call_code(fname, (), kwargs)

        def thunk(kwargs=kwargs):
            kw = materialise(kwargs)
            if pre is not None:
                kw = pre(kw)
            res = fn(**kw)
            return res if check is None else (res, kw)

        chk = None
        if check is not None:
            def chk(out, check=check):
                res, kw = out
                return check(res, kw)
        return Probe(label, thunk, expect, err_names, chk, repro, allow_nonfinite, timeout)

    return strat()


def unwrap_checked(probe: Probe, result):
    """The function's own result (``call_probes`` returns ``(result, kwargs)`` when checked)."""
    return result[0] if probe.check is not None else result


# ---------------------------------------------------------------------------------------------
# corrupt files

@dataclass
class FileCase:
    """A file variant: ``label``, ``content`` (bytes, or None for a missing path, or "dir")."""

    label: str
    content: Any
    expect: str = "error"
    suffix: str = ""
    extra: dict = field(default_factory=dict)


def corrupt_variants(valid: bytes, *, suffix="", text_ok=False):
    """Strategy of :class:`FileCase`: empty, random bytes, truncated, byte flips, text, pickle,
    a directory, a missing path and the valid file itself (``expect="ok"``)."""
    n = len(valid)

    @st.composite
    def strat(draw):
        kind = draw(st.sampled_from(["valid", "empty", "random", "truncated", "flip", "text", "pickle",
                                     "dir", "missing", "zeros", "appended"]))
        if kind == "valid":
            return FileCase("valid file", valid, "ok", suffix)
        if kind == "empty":
            return FileCase("empty file", b"", "error", suffix)
        if kind == "random":
            size = draw(st.integers(1, 4096))
            seed = draw(st.integers(0, 2 ** 16))
            return FileCase(f"{size} random bytes (seed {seed})",
                            np.random.default_rng(seed).bytes(size), "error", suffix)
        if kind == "truncated":
            cut = draw(st.integers(1, max(1, n - 1)))
            return FileCase(f"truncated to {cut} of {n} bytes", valid[:cut], "either", suffix)
        if kind == "flip":
            pos_ = draw(st.integers(0, max(0, n - 1)))
            b = bytearray(valid)
            if b:
                b[pos_] ^= 0xFF
            return FileCase(f"byte {pos_} flipped", bytes(b), "either", suffix)
        if kind == "text":
            return FileCase("a text file", b"hello, this is not the right format\n" * 3,
                            "either" if text_ok else "error", suffix)
        if kind == "pickle":
            import pickle
            return FileCase("a pickle of a dict", pickle.dumps({"a": [1, 2, 3]}), "error", suffix)
        if kind == "dir":
            return FileCase("a directory", "dir", "error", suffix)
        if kind == "missing":
            return FileCase("a missing path", None, "error", suffix)
        if kind == "zeros":
            return FileCase(f"{n} zero bytes", bytes(n), "error", suffix)
        return FileCase("valid file + 7 trailing bytes", valid + b"garbage", "either", suffix)

    return strat()


def write_case(case: FileCase, folder, name: str):
    """Create ``folder/name`` for ``case``; returns the path (not created for "missing")."""
    from pathlib import Path

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    if case.content is None:
        return path
    if isinstance(case.content, str) and case.content == "dir":
        path.mkdir(exist_ok=True)
        return path
    path.write_bytes(case.content)
    return path


# ---------------------------------------------------------------------------------------------
# outcomes

def names_in(msg: str, names) -> bool:
    """True when one of ``names`` appears in ``msg`` as a whole word (``X`` does not match ``XY``)."""
    for n in names:
        if not n:
            continue
        if re.search(r"(?<![A-Za-z0-9_])" + re.escape(str(n)) + r"(?![A-Za-z0-9_])", msg):
            return True
    return False


def origin(exc) -> str:
    """`` [at file:line]`` of the innermost frame outside the test harness."""
    tb = traceback.extract_tb(exc.__traceback__)
    frames = [f for f in tb if "fuzz_" not in Path(f.filename).name]
    if not frames:
        return ""
    f = frames[-1]
    path = f.filename
    for marker in ("site-packages/", "/rel5/", "/neurosim/", "/work/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f" [at {path}:{f.lineno}]"


class CLIResult:
    """Outcome of a command-line probe (classified by the CLI entry module)."""

    def __init__(self, outcome, detail=""):
        self.outcome, self.detail = outcome, detail


# ---------------------------------------------------------------------------------------------
# result checks

def finite_tree(x, depth=0) -> str | None:
    """Describe the first NaN/inf found in ``x`` (arrays, tensors, numbers, containers), else None."""
    if depth > 6:
        return None
    if isinstance(x, (bool, np.bool_, int, np.integer, str, bytes)) or x is None:
        return None
    if isinstance(x, (float, np.floating)):
        return None if math.isfinite(float(x)) else f"non-finite number {x}"
    if isinstance(x, np.ndarray):
        if x.size > 10 ** 8:
            return None  # a huge (possibly broadcast) result: not scanned
        if x.dtype.kind in "fc" and x.size and not np.all(np.isfinite(x)):
            return f"non-finite values in array {x.shape}"
        return None
    mod = type(x).__module__
    if mod.startswith("torch") and hasattr(x, "detach") and hasattr(x, "dtype"):
        import torch

        if x.numel() > 10 ** 8:
            return None  # a huge (possibly expanded) result: not scanned
        if x.is_floating_point() and x.numel() and not bool(torch.isfinite(x.detach()).all()):
            return f"non-finite values in tensor {tuple(x.shape)}"
        return None
    if isinstance(x, dict):
        items = list(x.values())
    elif isinstance(x, (list, tuple)):
        items = list(x)
    elif hasattr(x, "__dataclass_fields__"):
        items = [getattr(x, f, None) for f in x.__dataclass_fields__]
    else:
        return None
    for it in items[:200]:
        r = finite_tree(it, depth + 1)
        if r:
            return r
    return None
