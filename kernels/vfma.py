r"""Register-blocked sparse-times-dense products and a branch-free gather of non-zeros: the event kernels' inner loops.

:func:`axpy_events` computes, for the ``m`` events ``(k_q, v_q)`` of one input (a pixel's non-zero
channels, a row's non-zero inputs)::

    z[d0 + o] (= | +=)  Σ_q v_q wf[k_q + o]        o = 0 .. n-1

and :func:`axpy_segments` the same over several event lists, each with its own offset into the weight
rows (the taps of a convolution, :mod:`neurosim.kernels.event`). Numba cannot keep an array slice in
registers across a loop (it cannot prove that ``z`` and ``wf`` do not overlap), so the plain loop
loads and stores ``z`` once per event (or per group of events) and reads more than it computes. Here
the product is written in LLVM vector IR: the ``n`` outputs are cut into chunks of
:data:`ACCUMULATORS` vectors of the machine's width (then 8, 4 and 1 vectors, then single
elements); a chunk's accumulators stay in registers while every event adds its broadcast value
times the matching part of its weight row, and are stored once. Per event and vector: one load
and one fused multiply-add (a zmm register holds 16 float32 on an AVX-512 machine; AVX2 and SSE
machines get 8 and 4 lanes, and LLVM lowers the same IR for any target).

Each output element is one sequential chain in event order, independent of the vector width and
the chunking::

    a = v_0 w_0                (first: the product, rounded)      a = z        (else)
    a = fma(v_q, w_q, a)       q = 1 .. m-1 (first) or 0 .. m-1 (else)

so the result is the same on every machine (``llvm.fma`` is the correctly rounded fused
multiply-add; a machine without the instruction computes it in software), and a sum in another
order differs from it only by rounding (``tests/test_vfma.py`` checks both).

:func:`compress_events` lists the non-zero values of 8 or 16 inputs (and their weight offsets) without a
branch per value: a vector compare and a compress in registers.

Numba only (numpy + numba + llvmlite).
"""
from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils, config
from numba.extending import intrinsic

__all__ = ["axpy_events", "axpy_segments", "compress_events", "ACCUMULATORS", "vector_bytes"]

#: vector accumulators of a chunk (12 zmm/ymm registers; one more holds the broadcast value)
ACCUMULATORS = 12


def vector_bytes() -> int:
    """Bytes of the float vectors the accumulators use: the widest register of the machine Numba compiles
    for, 64 with AVX-512, 32 with AVX, else 16 (``NUMBA_CPU_FEATURES`` when set; a ``NUMBA_CPU_NAME``
    without features: 16 for ``generic``, else 32; otherwise the host's features). Only speed depends on
    it: every element is the same chain whatever the width."""
    feats = config.CPU_FEATURES
    if feats is None:
        if config.CPU_NAME:
            return 16 if config.CPU_NAME == "generic" else 32
        try:
            import llvmlite.binding as ll
            feats = ll.get_host_cpu_features().flatten()
        except RuntimeError:  # features unknown to LLVM on this machine
            return 16
    flags = set(f for f in feats.split(",") if f.startswith("+"))
    if "+avx512f" in flags:
        return 64
    if "+avx" in flags:
        return 32
    return 16


def _splat(builder, s, vec):
    undef = ir.Constant(vec, ir.Undefined)
    v = builder.insert_element(undef, s, ir.Constant(ir.IntType(32), 0))
    return builder.shuffle_vector(v, undef, ir.Constant(ir.VectorType(ir.IntType(32), vec.count), [0] * vec.count))


def _array_ok(a, dtype=None) -> bool:
    return isinstance(a, types.Array) and a.ndim == 1 and a.layout == "C" and (dtype is None or a.dtype == dtype)


def _emit(context, builder, dtype, zbase, n, first, first_event, loops):
    """``zbase[0 : n]`` (= | +=) the events that ``loops(body)`` visits, in chunks of vector accumulators.

    ``first``: an i1 value; with it the accumulators start from the product of the first event (``first_event()``
    gives its value and weight row; the loops skip it), else from ``zbase`` (always when ``first_event`` is
    None). ``loops(body)`` emits the loops over the events, calling
    ``body(value, row)`` with the event's value (a scalar) and the address of its weight row."""
    i64 = ir.IntType(64)
    fl = context.get_data_type(dtype)
    size = 4 if dtype == types.float32 else 8
    lanes_max = vector_bytes() // size
    sfx = "f32" if dtype == types.float32 else "f64"
    slots = {}

    def chunk(K, lanes, off):
        """The ``K`` accumulators of ``lanes`` elements at element offset ``off``."""
        ty = fl if lanes == 1 else ir.VectorType(fl, lanes)
        if (K, lanes) not in slots:
            slots[K, lanes] = [cgutils.alloca_once(builder, ty) for _ in range(K)]
        acc = slots[K, lanes]
        fma = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ty, [ty, ty, ty]),
                                             f"llvm.fma.{sfx}" if lanes == 1 else f"llvm.fma.v{lanes}{sfx}")

        def ptr(base, j):
            p = builder.gep(base, [builder.add(off, ir.Constant(i64, j * lanes))])
            return p if lanes == 1 else builder.bitcast(p, ty.as_pointer())

        def splat(v):
            return v if lanes == 1 else _splat(builder, v, ty)

        def load(p):
            return builder.load(p, align=size)

        if first_event is None:
            for j in range(K):
                builder.store(load(ptr(zbase, j)), acc[j])
        else:
            with builder.if_else(first) as (then, otherwise):
                with then:
                    v0, w0 = first_event()
                    v0 = splat(v0)
                    for j in range(K):
                        builder.store(builder.fmul(v0, load(ptr(w0, j))), acc[j])
                with otherwise:
                    for j in range(K):
                        builder.store(load(ptr(zbase, j)), acc[j])

        def body(v, row):
            v = splat(v)
            for j in range(K):
                builder.store(builder.call(fma, [v, load(ptr(row, j)), builder.load(acc[j])]), acc[j])

        loops(body)
        for j in range(K):
            builder.store(builder.load(acc[j]), ptr(zbase, j), align=size)

    zero64 = ir.Constant(i64, 0)
    done = zero64
    if lanes_max > 1:
        lanes = ir.Constant(i64, lanes_max)
        nvec = builder.sdiv(n, lanes)
        for K in (ACCUMULATORS, 8, 4, 1):
            nk = builder.sdiv(builder.sub(nvec, done), ir.Constant(i64, K))
            with cgutils.for_range(builder, nk) as loop:
                first_vec = builder.add(done, builder.mul(loop.index, ir.Constant(i64, K)))
                chunk(K, lanes_max, builder.mul(first_vec, lanes))
            done = builder.add(done, builder.mul(nk, ir.Constant(i64, K)))
        done = builder.mul(nvec, lanes)
    with cgutils.for_range(builder, builder.sub(n, done)) as loop:
        chunk(1, 1, builder.add(done, loop.index))


def _int(context, builder, v, t):
    return context.cast(builder, v, t, types.int64)


@intrinsic
def axpy_events(typingctx, z, d0, wf, ks, vals, m, n, first):
    """``z[d0 : d0 + n]`` (= if ``first``, else +=) ``Σ_q vals[q] wf[ks[q] : ks[q] + n]`` over ``q < m``
    (module docstring). ``z``, ``wf``, ``vals``: 1-d C-contiguous arrays of one float dtype; ``ks``: 1-d
    C-contiguous integer array (element offsets into ``wf``); ``d0``, ``m``, ``n``: integers; ``first``:
    bool (with ``m = 0`` nothing is written). Indices are not checked: the caller keeps them in range."""
    if not (_array_ok(z) and z.dtype in (types.float32, types.float64) and _array_ok(wf, z.dtype)
            and _array_ok(vals, z.dtype) and _array_ok(ks) and isinstance(ks.dtype, types.Integer)
            and all(isinstance(t, types.Integer) for t in (d0, m, n)) and isinstance(first, types.Boolean)):
        return None
    sig = types.void(z, d0, wf, ks, vals, m, n, first)

    def codegen(context, builder, signature, args):
        zt, d0t, wt, kt, vt, mt, nt, ft = signature.args
        i64 = ir.IntType(64)
        zero64 = ir.Constant(i64, 0)
        zp, wp, kp, vp = (context.make_array(t)(context, builder, a).data
                          for t, a in zip((zt, wt, kt, vt), (args[0], args[2], args[3], args[4])))
        mv = _int(context, builder, args[5], mt)
        fv = builder.and_(context.cast(builder, args[7], ft, types.boolean), builder.icmp_signed(">", mv, zero64))
        start = builder.select(fv, ir.Constant(i64, 1), zero64)
        rest = builder.sub(mv, start)
        rest = builder.select(builder.icmp_signed(">", rest, zero64), rest, zero64)

        def event(q):
            k = _int(context, builder, builder.load(builder.gep(kp, [q])), kt.dtype)
            return builder.load(builder.gep(vp, [q])), builder.gep(wp, [k])

        def loops(body):
            with cgutils.for_range(builder, rest) as loop:
                body(*event(builder.add(loop.index, start)))

        _emit(context, builder, zt.dtype, builder.gep(zp, [_int(context, builder, args[1], d0t)]),
              _int(context, builder, args[6], nt), fv, lambda: event(zero64), loops)
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def axpy_segments(typingctx, z, d0, wf, ks, vals, starts, counts, offs, nseg, n):
    """``z[d0 : d0 + n] += Σ_s Σ_q vals[q] wf[ks[q] + offs[s] : ... + n]``, ``q`` over ``starts[s] ..
    starts[s] + counts[s] - 1``, ``s < nseg``: several event lists, each with its own offset into the weight
    rows (the taps of a convolution), in one chain per element (segment by segment, events in list order).
    ``starts``, ``counts``, ``offs``: 1-d C-contiguous integer arrays; otherwise as :func:`axpy_events`."""
    ints = (starts, counts, offs)
    if not (_array_ok(z) and z.dtype in (types.float32, types.float64) and _array_ok(wf, z.dtype)
            and _array_ok(vals, z.dtype) and _array_ok(ks) and isinstance(ks.dtype, types.Integer)
            and all(_array_ok(a) and isinstance(a.dtype, types.Integer) for a in ints)
            and all(isinstance(t, types.Integer) for t in (d0, nseg, n))):
        return None
    sig = types.void(z, d0, wf, ks, vals, starts, counts, offs, nseg, n)

    def codegen(context, builder, signature, args):
        zt, d0t, wt, kt, vt, st, ct, ot, nst, nt = signature.args
        zp, wp, kp, vp, sp, cp, op = (context.make_array(t)(context, builder, a).data for t, a in
                                      zip((zt, wt, kt, vt, st, ct, ot), (args[0],) + tuple(args[2:8])))

        def loops(body):
            with cgutils.for_range(builder, _int(context, builder, args[8], nst)) as seg:
                s = seg.index
                s0 = _int(context, builder, builder.load(builder.gep(sp, [s])), st.dtype)
                cnt = _int(context, builder, builder.load(builder.gep(cp, [s])), ct.dtype)
                off = _int(context, builder, builder.load(builder.gep(op, [s])), ot.dtype)
                with cgutils.for_range(builder, cnt) as loop:
                    q = builder.add(s0, loop.index)
                    k = _int(context, builder, builder.load(builder.gep(kp, [q])), kt.dtype)
                    body(builder.load(builder.gep(vp, [q])), builder.gep(wp, [builder.add(k, off)]))

        _emit(context, builder, zt.dtype, builder.gep(zp, [_int(context, builder, args[1], d0t)]),
              _int(context, builder, args[9], nt), None, None, loops)
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def compress_events(typingctx, x, i0, n, R, base, ks, vals, pos):
    """The non-zero values among ``x[i0 : i0 + n]`` (``n`` a literal 8 or 16) in order: their values into
    ``vals[pos:]``, their offsets ``base + c R`` (``c``: index from ``i0``) into ``ks[pos:]``; returns their
    count. Branch-free, 8 values at a time: ``llvm.experimental.vector.compress`` in registers (AVX-512's
    ``vcompressps`` / ``vpcompressq``; the memory form of the instructions is microcoded and ~5x slower on
    Zen 4), then full-width stores: up to ``n`` entries are written from ``pos`` whatever the count (the
    caller leaves room). Not checked: ``x``, ``vals`` 1-d C-contiguous of one float dtype, ``ks`` 1-d
    C-contiguous int64."""
    if not (_array_ok(x) and x.dtype in (types.float32, types.float64) and _array_ok(vals, x.dtype)
            and _array_ok(ks, types.int64) and isinstance(n, types.IntegerLiteral) and n.literal_value in (8, 16)
            and all(isinstance(t, types.Integer) for t in (i0, R, base, pos))):
        return None
    width = n.literal_value
    sig = types.int64(x, i0, n, R, base, ks, vals, pos)

    def codegen(context, builder, signature, args):
        xt, it, _, rt, bt, kt, vt, pt = signature.args
        i64 = ir.IntType(64)
        fl = context.get_data_type(xt.dtype)
        size = 4 if xt.dtype == types.float32 else 8
        sfx = "f32" if xt.dtype == types.float32 else "f64"
        xp = context.make_array(xt)(context, builder, args[0]).data
        kp = context.make_array(kt)(context, builder, args[5]).data
        vp = context.make_array(vt)(context, builder, args[6]).data
        x0 = builder.gep(xp, [_int(context, builder, args[1], it)])
        r = _int(context, builder, args[3], rt)
        b = _int(context, builder, args[4], bt)
        done = _int(context, builder, args[7], pt)
        total = ir.Constant(i64, 0)
        h = 8  # pieces of 8 values: one 64-byte vector of int64 offsets (and of float64 values)
        ivec = ir.VectorType(i64, h)
        vec = ir.VectorType(fl, h)
        mty = ir.VectorType(ir.IntType(1), h)

        def compress(ty):
            name = f"llvm.experimental.vector.compress.v{h}{'i64' if ty is ivec else sfx}"
            return cgutils.get_or_insert_function(builder.module, ir.FunctionType(ty, [ty, mty, ty]), name)

        ctpop = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.IntType(h), [ir.IntType(h)]),
                                               f"llvm.ctpop.i{h}")
        steps = ir.Constant(ivec, list(range(h)))
        for part in range(width // h):
            v = builder.load(builder.bitcast(builder.gep(x0, [ir.Constant(i64, part * h)]), vec.as_pointer()),
                             align=size)
            mask = builder.fcmp_unordered("!=", v, ir.Constant(vec, [0.0] * h))
            cv = builder.call(compress(vec), [v, mask, ir.Constant(vec, ir.Undefined)])
            builder.store(cv, builder.bitcast(builder.gep(vp, [done]), vec.as_pointer()), align=size)
            first = builder.add(b, builder.mul(r, ir.Constant(i64, part * h)))
            offs = builder.add(_splat(builder, first, ivec), builder.mul(_splat(builder, r, ivec), steps))
            ck = builder.call(compress(ivec), [offs, mask, ir.Constant(ivec, ir.Undefined)])
            builder.store(ck, builder.bitcast(builder.gep(kp, [done]), ivec.as_pointer()), align=8)
            c = builder.zext(builder.call(ctpop, [builder.bitcast(mask, ir.IntType(h))]), i64)
            done = builder.add(done, c)
            total = builder.add(total, c)
        return total

    return sig, codegen


if config.DISABLE_JIT:  # NUMBA_DISABLE_JIT=1: the kernels run as Python; an intrinsic cannot be called there
    def axpy_events(z, d0, wf, ks, vals, m, n, first):  # noqa: F811
        """Python stand-in (products and sums rounded separately, not fused)."""
        if first and m > 0:
            z[d0:d0 + n] = vals[0] * wf[ks[0]:ks[0] + n]
        for q in range(1 if first and m > 0 else 0, m):
            z[d0:d0 + n] += vals[q] * wf[ks[q]:ks[q] + n]

    def axpy_segments(z, d0, wf, ks, vals, starts, counts, offs, nseg, n):  # noqa: F811
        """Python stand-in (products and sums rounded separately, not fused)."""
        for s in range(nseg):
            for q in range(starts[s], starts[s] + counts[s]):
                k = ks[q] + offs[s]
                z[d0:d0 + n] += vals[q] * wf[k:k + n]

    def compress_events(x, i0, n, R, base, ks, vals, pos):  # noqa: F811
        """Python stand-in (writes only the non-zero values)."""
        m = pos
        for c in range(n):
            if x[i0 + c] != 0:
                ks[m] = base + c * R
                vals[m] = x[i0 + c]
                m += 1
        return m - pos

