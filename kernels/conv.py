"""Convolution kernels.

``correlate2d`` / ``convolve2d``: single-channel 2-D, drop-ins for ``scipy.signal``'s: the same
signature and defaults (mode "full"), every mode and boundary ("fill" with any fill value, "wrap",
"symm"). ``conv2d_forward`` / ``conv2d_backward``: batched, channels-last, with PyTorch's
stride and zero padding -- the seed ConvLayer's arithmetic (stride 1, no padding) with its two
bias bugs fixed.

Layouts: images (N, H, W, C), filters (KH, KW, C, F), outputs (N, OH, OW, F); OH = H-KH+1 at
stride 1 without padding. The channel axes are innermost so the inner loops run over contiguous
memory and vectorise.
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np

from . import config
from ._checks import conv_geometry, float_arrays
from .config import blas_single_thread, jit

MODES = ("valid", "full", "same")
FILL, WRAP, SYMM = 0, 1, 2
# scipy.signal's boundary names, aliases included.
_F32_MAX = float(np.finfo(np.float32).max)
BOUNDARIES = {"fill": FILL, "pad": FILL, "wrap": WRAP, "circular": WRAP, "symm": SYMM, "symmetric": SYMM}

# Convolutions smaller than this many multiply-adds (forward) run the direct loops on one thread;
# larger ones im2col + BLAS in parallel over images (3-6x faster on the benchmark layer). Below
# it, a parallel region's start-up and the BLAS calls cost more than they save.
PARALLEL_MIN_MACS = 200_000
# Images per BLAS product on the im2col path: one product for 4 images' patches measured ~14%
# faster than one per image (W1's second layer, float32, 2 BLAS threads); 8 spilled the cache.
# At least 3: the planar loops' buffer is carved from a group's patches (see _forward_group).
GROUP = 4
# One-input-channel layers with at most this many filters (LeNet-5's first: 6) run the forward pass
# as planar loops over each filter's whole output plane instead of im2col + BLAS, whose product is
# too thin there (28x28, 5x5, 6 filters, batch 64, one thread: 1.06 -> 0.33 ms; equal near 10-12
# filters, BLAS ahead beyond). Stride 1 and no padding only.
PLANAR_MAX_FILTERS = 8
# Fixed number of batch chunks whose weight gradients are summed at the end of a parallel
# backward pass: results then depend on the batch size only, not on the thread count.
GRAD_CHUNKS = 16
# Threads the training loop's im2col kernels may split a batch over (Python only: the jitted
# kernels take the count as an argument; a layer's scratch is sized for this many).
MAX_PARTS = max(1, min(os.cpu_count() or 1, 4)) if config.PARALLEL else 1


# --------------------------------------------------------------------------- single channel


@jit
def _correlate_valid(a, k):
    """Valid cross-correlation, a (H, W) at least as large as k (KH, KW) in both dimensions."""
    kh, kw = k.shape
    oh, ow = a.shape[0] - kh + 1, a.shape[1] - kw + 1
    out = np.empty((oh, ow), dtype=a.dtype)
    for i in range(oh):
        out[i, :] = 0  # written before it is read: no zero-page faults on large outputs
        for m in range(kh):
            for n in range(kw):
                weight = k[m, n]
                for j in range(ow):  # contiguous in out and a: vectorises
                    out[i, j] += a[i + m, j + n] * weight
    return out


@jit
def _source_index(i, n, boundary):
    """The index into an axis of length ``n`` that position ``i`` of the extended axis reads, or -1
    for a position the fill value takes. scipy's extensions repeat as far as a kernel reaches:
    "wrap" is periodic (period n), "symm" mirrors with the edge sample repeated (period 2n)."""
    if 0 <= i < n:
        return i
    if boundary == FILL:
        return -1
    if boundary == WRAP:
        return i % n
    r = i % (2 * n)
    return r if r < n else 2 * n - 1 - r


@jit
def _correlate_region(a, k, pad_r, pad_c, oh, ow, boundary, fill):
    """Output rows/columns of the valid correlation of ``k`` over a canvas of (oh+KH-1, ow+KW-1)
    holding ``a`` at (pad_r, pad_c) and, around it, ``a`` extended by ``boundary`` (FILL with
    ``fill``, WRAP, SYMM). In valid mode (no padding, same size) ``a`` is the canvas.

    Building the canvas costs one pass over it; the correlation then runs the same vectorised
    loops for every boundary, and fill values meet the kernel as in scipy (0 * inf is NaN).
    """
    kh, kw = k.shape
    h, w = a.shape
    ch, cw = oh + kh - 1, ow + kw - 1
    if pad_r == 0 and pad_c == 0 and h == ch and w == cw:
        return _correlate_valid(a, k)
    cols = np.empty(cw, dtype=np.int64)
    for j in range(cw):
        cols[j] = _source_index(j - pad_c, w, boundary)
    lo, hi = min(pad_c, cw), min(pad_c + w, cw)  # canvas columns that hold a's own row
    canvas = np.empty((ch, cw), dtype=a.dtype)
    for i in range(ch):
        r = _source_index(i - pad_r, h, boundary)
        if r < 0:
            canvas[i, :] = fill
            continue
        canvas[i, lo:hi] = a[r, : hi - lo]
        for j in range(lo):
            c = cols[j]
            canvas[i, j] = a[r, c] if c >= 0 else fill
        for j in range(hi, cw):
            c = cols[j]
            canvas[i, j] = a[r, c] if c >= 0 else fill
    return _correlate_valid(canvas, k)


def _region(a_shape: tuple[int, int], k_shape: tuple[int, int], mode: str, convolve: bool):
    """(pad_r, pad_c, out_h, out_w): where ``a`` sits in the canvas, and the output size.

    In the full result's coordinates the output starts at row kh-1-pad_r, column kw-1-pad_c.
    """
    (h, w), (kh, kw) = a_shape, k_shape
    if mode == "full":
        return kh - 1, kw - 1, h + kh - 1, w + kw - 1
    if mode == "same":
        # scipy centres "same" differently for the two operations when the kernel is even.
        if convolve:
            return kh - 1 - (kh - 1) // 2, kw - 1 - (kw - 1) // 2, h, w
        return kh - 1 - kh // 2, kw - 1 - kw // 2, h, w
    if h >= kh and w >= kw:
        return 0, 0, h - kh + 1, w - kw + 1
    if h <= kh and w <= kw:  # scipy swaps the operands; the same region of the zero-filled full result
        return kh - h, kw - w, kh - h + 1, kw - w + 1
    raise ValueError(
        f"in 'valid' mode one of in1 {a_shape} and in2 {k_shape} must be at least as large as the other in every "
        "dimension"
    )


def _boundary_code(boundary: Any) -> int:
    code = BOUNDARIES.get(boundary) if isinstance(boundary, str) else None
    if code is None:
        raise ValueError(
            f"boundary must be 'fill' (or 'pad'), 'wrap' (or 'circular') or 'symm' (or 'symmetric'); got {boundary!r}"
        )
    return code


def _fill_value(fillvalue: Any, in1: Any, in2: Any) -> float:
    """``fillvalue`` as scipy takes it: a real scalar or one-element array; for two integer inputs,
    converted to their integer type first (scipy computes in it: 1.5 fills as 1)."""
    if type(fillvalue) in (int, float):
        v = float(fillvalue)
        if v == 0:
            return 0.0
    else:
        try:
            value = np.asarray(fillvalue)
        except Exception as exc:
            raise ValueError(f"fillvalue must be a real scalar; got {fillvalue!r} ({exc})") from None
        if value.size != 1:
            what = "an empty array" if value.size == 0 else f"shape {value.shape}"
            raise ValueError(f"`fillvalue` must be scalar or an array with one element; got {what}")
        if value.dtype.kind == "c":  # scipy: cannot cast a complex fill value to a real output
            raise ValueError(
                "fillvalue must be real: could not cast `fillvalue` directly to the output type "
                f"(got complex {fillvalue!r})"
            )
        if value.dtype.kind not in "biuf":
            raise ValueError(f"fillvalue must be a real number; got {fillvalue!r}")
        v = float(value.reshape(()))
    dt1, dt2 = _dtype(in1), _dtype(in2)
    if dt1.kind in "iu" and dt2.kind in "iu":
        int_type = np.result_type(dt1, dt2)
        info = np.iinfo(int_type)
        if not (math.isfinite(v) and info.min <= math.trunc(v) <= info.max):
            raise ValueError(f"fillvalue {fillvalue!r} does not fit the inputs' integer type {int_type}")
        v = float(math.trunc(v))
    return v


def _dtype(x: Any) -> np.dtype:
    return x.dtype if isinstance(x, np.ndarray) else np.asarray(x).dtype


def _single_channel(in1, in2, mode: str, boundary: Any, fillvalue: Any, convolve: bool) -> np.ndarray:
    if not isinstance(mode, str) or mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}; got {mode!r}")
    code = _boundary_code(boundary)
    fill = _fill_value(fillvalue, in1, in2)
    a, k = float_arrays({"in1": in1, "in2": in2}, {"in1": 2, "in2": 2})
    pad_r, pad_c, oh, ow = _region(a.shape, k.shape, mode, convolve)
    if mode == "valid":  # never reads beyond the inputs (scipy swaps them when in2 is the larger)
        code, fill = FILL, 0.0
    if convolve:
        k = np.ascontiguousarray(k[::-1, ::-1])
    if a.dtype == np.float32 and abs(fill) > _F32_MAX:  # beyond float32's range: inf, as in scipy
        with np.errstate(over="ignore"):
            return _correlate_region(a, k, pad_r, pad_c, oh, ow, code, np.float32(fill))
    return _correlate_region(a, k, pad_r, pad_c, oh, ow, code, a.dtype.type(fill))


def correlate2d(
    in1: np.ndarray, in2: np.ndarray, mode: str = "full", boundary: str = "fill", fillvalue: float = 0
) -> np.ndarray:
    """2-D cross-correlation of ``in1`` (H, W) with ``in2`` (KH, KW), as ``scipy.signal.correlate2d``:
    the same signature and defaults, results equal to rounding.

    ``mode``: "full" (H+KH-1, W+KW-1), "same" (H, W, centred as scipy does), "valid"
    (|H-KH|+1, |W-KW|+1; either input may be the larger, as in scipy). ``boundary``: "fill" (pad with
    ``fillvalue``), "wrap"/"circular" (periodic), "symm"/"symmetric" (mirrored, edge repeated).
    float32 stays float32, other real inputs compute in float64 (integer inputs: float64 results
    with scipy's values); complex inputs raise TypeError.
    """
    return _single_channel(in1, in2, mode, boundary, fillvalue, convolve=False)


def convolve2d(
    in1: np.ndarray, in2: np.ndarray, mode: str = "full", boundary: str = "fill", fillvalue: float = 0
) -> np.ndarray:
    """2-D convolution of ``in1`` (H, W) with ``in2`` (KH, KW), as ``scipy.signal.convolve2d``; the
    arguments as in :func:`correlate2d`."""
    return _single_channel(in1, in2, mode, boundary, fillvalue, convolve=True)


# --------------------------------------------------------------------------- batched layer
# ``stride`` = (sh, sw) everywhere below. The direct loops take x already padded (see
# :func:`pad_images`); the im2col kernels read the padding as zeros (``geometry`` = (kernel,
# stride, pads)).


@jit
def _forward_one_filter(x, w, b, out, stride):
    """_forward_one for one filter (the tutorials' ``ConvLayer(..., 1)``): the same additions in the
    same order, the inner loop along the output row, where it vectorises (19.6 -> 4.0 us for 3x3
    on 28x28)."""
    kh, kw, c_in, _ = w.shape
    oh, ow = out.shape[0], out.shape[1]
    sh, sw = stride
    for i in range(oh):
        for j in range(ow):
            out[i, j, 0] = b[0]
        r = i * sh
        for m in range(kh):
            for n in range(kw):
                for c in range(c_in):
                    wv = w[m, n, c, 0]
                    for j in range(ow):
                        out[i, j, 0] += x[r + m, j * sw + n, c] * wv


@jit
def _forward_one(x, w, b, out, stride):
    """One image: x (H, W, C), w (KH, KW, C, F), b (F,) -> out (OH, OW, F), overwritten."""
    kh, kw, c_in, f_out = w.shape
    if f_out == 1:
        _forward_one_filter(x, w, b, out, stride)
        return
    oh, ow = out.shape[0], out.shape[1]
    sh, sw = stride
    for i in range(oh):
        for j in range(ow):
            for f in range(f_out):
                out[i, j, f] = b[f]
        r = i * sh
        for m in range(kh):
            for n in range(kw):
                # Two output pixels per pass: half the loop overhead of the short filter loop; each
                # output element still sees the same additions in the same order.
                for j in range(0, ow - 1, 2):
                    o0, o1 = out[i, j], out[i, j + 1]
                    for c in range(c_in):
                        x0, x1 = x[r + m, j * sw + n, c], x[r + m, (j + 1) * sw + n, c]
                        wr = w[m, n, c]
                        for f in range(f_out):
                            o0[f] += x0 * wr[f]
                            o1[f] += x1 * wr[f]
                if ow % 2:
                    j = ow - 1
                    for c in range(c_in):
                        xv = x[r + m, j * sw + n, c]
                        for f in range(f_out):
                            out[i, j, f] += xv * w[m, n, c, f]


@jit
def conv2d_forward_direct_into(x, w, b, out, stride):
    for s in range(x.shape[0]):
        _forward_one(x[s], w, b, out[s], stride)


@jit
def output_size(h, wd, kernel, stride):
    """(OH, OW) of a valid convolution of (already padded) h x wd images."""
    kh, kw = kernel
    sh, sw = stride
    return (h - kh) // sh + 1, (wd - kw) // sw + 1


@jit
def _conv2d_forward_serial(x, w, b, stride):
    n_img, h, wd, _ = x.shape
    kh, kw, _, f_out = w.shape
    oh, ow = output_size(h, wd, (kh, kw), stride)
    out = np.empty((n_img, oh, ow, f_out), dtype=x.dtype)
    conv2d_forward_direct_into(x, w, b, out, stride)
    return out


@jit
def _im2col(x, geometry, patches):
    """patches[i*OW + j, (m*KW + n)*C + c] = xp[i*sh + m, j*sw + n, c] for one image x (H, W, C),
    xp being x with zeros around it; ``geometry`` = (kernel, stride, pads), pads = (top, bottom,
    left, right). Padding is read as zeros here, so no padded copy of the batch is made.

    For fixed (i, j, m) the KW*C values are one contiguous run of x's row i*sh + m - top when the
    window lies inside the image: copied as such.
    """
    h, w, c = x.shape
    (kh, kw), (sh, sw), (top, bottom, left, right) = geometry
    oh, ow = output_size(h + top + bottom, w + left + right, (kh, kw), (sh, sw))
    run = kw * c
    rows = x.reshape(h, w * c)
    for i in range(oh):
        for j in range(ow):
            r = i * ow + j
            q0 = j * sw - left  # the window's first input column
            inside = q0 >= 0 and q0 + kw <= w
            for m in range(kh):
                dst = patches[r, m * run : (m + 1) * run]
                src = i * sh + m - top
                if src < 0 or src >= h:
                    for q in range(run):
                        dst[q] = 0
                elif inside:
                    line = rows[src, q0 * c : q0 * c + run]
                    for q in range(run):
                        dst[q] = line[q]
                else:
                    for n in range(kw):
                        col = q0 + n
                        for ch in range(c):
                            dst[n * c + ch] = x[src, col, ch] if 0 <= col < w else 0


@jit
def _col2im_add(dpatches, geometry, dx):
    """The adjoint of _im2col: dx[i*sh + m - top, j*sw + n - left, c] += dpatches[i*OW + j,
    (m*KW + n)*C + c], positions in the padding dropped."""
    h, w, c = dx.shape
    (kh, kw), (sh, sw), (top, bottom, left, right) = geometry
    oh, ow = output_size(h + top + bottom, w + left + right, (kh, kw), (sh, sw))
    run = kw * c
    rows = dx.reshape(h, w * c)
    for i in range(oh):
        for j in range(ow):
            r = i * ow + j
            q0 = j * sw - left
            inside = q0 >= 0 and q0 + kw <= w
            for m in range(kh):
                dst_row = i * sh + m - top
                if dst_row < 0 or dst_row >= h:
                    continue
                src = dpatches[r, m * run : (m + 1) * run]
                if inside:
                    line = rows[dst_row, q0 * c : q0 * c + run]
                    for q in range(run):
                        line[q] += src[q]
                else:
                    for n in range(kw):
                        col = q0 + n
                        if 0 <= col < w:
                            for ch in range(c):
                                dx[dst_row, col, ch] += src[n * c + ch]


@jit
def _planar(c, f, geometry):
    """Whether a layer with ``c`` input channels and ``f`` filters takes the planar forward loops."""
    (sh, sw), (top, bottom, left, right) = geometry[1], geometry[2]
    one_step = sh == 1 and sw == 1 and top == 0 and bottom == 0 and left == 0 and right == 0
    return c == 1 and f <= PLANAR_MAX_FILTERS and one_step


@jit
def _forward_planar(img, w2, b, kernel, buf, out):
    """One image (H, W, 1), stride 1, no padding: out (OH*OW, F) = correlation + b, built one
    filter's output plane at a time. ``buf`` (at least KW*H*OW + OH*OW floats) holds the image
    shifted by each kernel column, xs[(n*H + r)*OW + j] = img[r, j + n], so that every tap is one
    run of OH*OW contiguous multiply-adds (the loop vectorises; per output row it is too short to),
    and the plane. Each output adds its taps in (m, n) order from 0, then the bias."""
    h, wd = img.shape[0], img.shape[1]
    kh, kw = kernel
    oh, ow = h - kh + 1, wd - kw + 1
    per = oh * ow
    size = kw * h * ow
    xs, plane = buf[:size], buf[size : size + per]
    for n in range(kw):
        for r in range(h):
            dst = xs[(n * h + r) * ow : (n * h + r + 1) * ow]  # slices: indices the compiler knows >= 0
            for j in range(ow):
                dst[j] = img[r, j + n, 0]
    for q in range(w2.shape[1]):
        for p in range(per):
            plane[p] = 0
        for m in range(kh):
            for n in range(kw):
                wq = w2[m * kw + n, q]
                src = xs[(n * h + m) * ow : (n * h + m) * ow + per]
                for p in range(per):
                    plane[p] += wq * src[p]
        bq = b[q]
        for p in range(per):
            out[p, q] = plane[p] + bq


@jit
def _forward_group(x, w2, b, images, geometry, patches, out):
    """Images first..stop-1 (``images``): their rows of ``out`` (N*OH*OW, F) = im2col @ w2 + b, one
    BLAS product for the group (``patches`` holds at least its rows), or the planar loops
    (:func:`_planar`; their buffer, < 3*OH*OW*KH*KW floats, fits in a group's patches)."""
    first, stop = images
    per = out.shape[0] // x.shape[0]
    if _planar(x.shape[3], w2.shape[1], geometry):
        buf = patches.reshape(patches.size)
        for s in range(first, stop):
            _forward_planar(x[s], w2, b, geometry[0], buf, out[s * per : (s + 1) * per])
        return
    for s in range(first, stop):
        _im2col(x[s], geometry, patches[(s - first) * per : (s - first + 1) * per])
    o = out[first * per : stop * per]
    np.dot(patches[: (stop - first) * per], w2, o)
    for r in range(o.shape[0]):
        for q in range(o.shape[1]):
            o[r, q] += b[q]


@jit
def scratch_size(out_pixels, k, f, parts):
    """Floats of scratch the im2col kernels of the training loop use for a layer with ``out_pixels``
    = OH*OW, ``k`` = KH*KW*C, ``f`` filters, run on ``parts`` threads (1: serial): per part a group's
    patches and their gradients and one product; every chunk's partial weight and bias gradients."""
    rows = GROUP * out_pixels
    return parts * (2 * rows * k + k * f) + GRAD_CHUNKS * (k * f + f)


@jit
def _scratch_views(scratch, out_pixels, k, f, parts):
    """(patches, dpatches, dw_one) with one (rows, k), (rows, k), (k, f) slice per part, then
    (dw_parts, db_parts), carved from ``scratch`` (see scratch_size)."""
    rows = GROUP * out_pixels
    a = parts * rows * k
    patches = scratch[:a].reshape(parts, rows, k)
    dpatches = scratch[a : 2 * a].reshape(parts, rows, k)
    o = 2 * a
    dw_one = scratch[o : o + parts * k * f].reshape(parts, k, f)
    o += parts * k * f
    dw_parts = scratch[o : o + GRAD_CHUNKS * k * f].reshape(GRAD_CHUNKS, k, f)
    o += GRAD_CHUNKS * k * f
    db_parts = scratch[o : o + GRAD_CHUNKS * f].reshape(GRAD_CHUNKS, f)
    return (patches, dpatches, dw_one), (dw_parts, db_parts)


@jit
def conv2d_forward_gemm_into(x, w, b, geometry, out, scratch):
    """The im2col path on one thread, allocating nothing (the compiled training loop's): x (N, H, W,
    C) unpadded, ``geometry`` = (kernel, stride, pads), out (N*OH*OW, F) overwritten, ``scratch``
    at least ``scratch_size`` floats. Groups of GROUP images, as the parallel kernel takes them."""
    n_img = x.shape[0]
    kh, kw, c, f = w.shape
    w2 = w.reshape(kh * kw * c, f)
    patches = _scratch_views(scratch, out.shape[0] // n_img, kh * kw * c, f, 1)[0][0][0]
    _forward_groups(x, w2, b, geometry, out, patches, (0, (n_img + GROUP - 1) // GROUP))


@jit
def _forward_groups(x, w2, b, geometry, out, patches, groups):
    """Groups g0..g1-1 (``groups``) of GROUP images, one product each through ``patches``."""
    n_img = x.shape[0]
    for g in range(groups[0], groups[1]):
        _forward_group(x, w2, b, (g * GROUP, min(g * GROUP + GROUP, n_img)), geometry, patches, out)


@jit(parallel=True)
def conv2d_forward_gemm_parallel_into(x, w, b, geometry, out, work):
    """:func:`conv2d_forward_gemm_into` on ``parts`` threads, ``work`` = (scratch, parts) with
    scratch_size(..., parts) floats: part t takes a run of whole groups with its own patches. The
    same products on the same rows: the same numbers. Call with BLAS on one thread."""
    scratch, parts = work
    n_img = x.shape[0]
    kh, kw, c, f = w.shape
    w2 = w.reshape(kh * kw * c, f)
    patches = _scratch_views(scratch, out.shape[0] // n_img, kh * kw * c, f, parts)[0][0]
    groups = (n_img + GROUP - 1) // GROUP
    (sh, sw), (top, bottom, left, right) = geometry[1], geometry[2]  # a parfor takes no nested tuples
    for t in config.prange(parts):
        geo = ((kh, kw), (sh, sw), (top, bottom, left, right))
        _forward_groups(x, w2, b, geo, out, patches[t], (t * groups // parts, (t + 1) * groups // parts))


@jit(parallel=True)
def _conv2d_forward_gemm_parallel(x, w, b, geometry):
    """The im2col path for Python callers: groups of images in parallel (call with BLAS on one thread).

    Not conv2d_forward_gemm_parallel_into with scratch for every thread: a prange over the groups,
    each allocating its patches, balances small layers better (0.27 vs 0.35-0.43 ms forward for the
    bench's 28x28x8 stride-2 layer at batch 64, float32), and scratch for every group at once would
    be 85 MB for W1's second layer. The same numbers either way."""
    n_img, h, wd, c = x.shape
    kh, kw, _, f = w.shape
    pads = geometry[2]
    oh, ow = output_size(h + pads[0] + pads[1], wd + pads[2] + pads[3], (kh, kw), geometry[1])
    w2 = w.reshape(kh * kw * c, f)
    out = np.empty((n_img * oh * ow, f), dtype=x.dtype)
    (sh, sw), (top, bottom, left, right) = geometry[1], pads  # scalars: a parfor takes no nested tuples
    for g in config.prange((n_img + GROUP - 1) // GROUP):
        patches = np.empty((GROUP * oh * ow, kh * kw * c), dtype=x.dtype)
        images = (g * GROUP, min(g * GROUP + GROUP, n_img))
        _forward_group(x, w2, b, images, ((kh, kw), (sh, sw), (top, bottom, left, right)), patches, out)
    return out.reshape(n_img, oh, ow, f)


@jit
def _weight_gradient_one_filter(x, dy, dw, stride):
    """dw (KH, KW, C, 1) += the products of one image's windows x (H, W, C) with dy (OH, OW, 1),
    each weight's added over (i, j) in the order _backward_one adds them, four weights at a time in
    registers: four chains of additions interleaved instead of one through memory (23 -> 4 us for
    3x3 on 28x28)."""
    kh, kw, c_in, _ = dw.shape
    oh, ow = dy.shape[0], dy.shape[1]
    sh, sw = stride
    taps = kw * c_in  # (n, c) of one kernel row, contiguous in x's row: (j*sw + n)*C + c
    rows = x.reshape(x.shape[0], x.shape[1] * c_in)
    flat = dw.reshape(kh, taps)
    last = taps - 1
    for m in range(kh):
        for t in range(0, taps, 4):
            t1, t2, t3 = min(t + 1, last), min(t + 2, last), min(t + 3, last)  # repeats are not stored
            a0, a1, a2, a3 = flat[m, t], flat[m, t1], flat[m, t2], flat[m, t3]
            for i in range(oh):
                r = i * sh + m
                for j in range(ow):
                    g = dy[i, j, 0]
                    q = j * sw * c_in
                    a0 += rows[r, q + t] * g
                    a1 += rows[r, q + t1] * g
                    a2 += rows[r, q + t2] * g
                    a3 += rows[r, q + t3] * g
            flat[m, t] = a0
            if t + 1 <= last:
                flat[m, t1] = a1
            if t + 2 <= last:
                flat[m, t2] = a2
            if t + 3 <= last:
                flat[m, t3] = a3


@jit
def _backward_one(x, wt, dy, grads, dx, need_dx, stride):
    """One image; accumulates into dx (H, W, C) and ``grads`` = (dw (KH, KW, C, F), db (F,)).

    ``wt`` is w transposed to (KH, KW, F, C) so the dx update runs over contiguous channels.
    ``need_dx`` False skips dx (a network's first layer): dw and db are computed identically.
    """
    dw, db = grads
    kh, kw, f_out, c_in = wt.shape
    oh, ow = dy.shape[0], dy.shape[1]
    sh, sw = stride
    one_filter = f_out == 1
    if one_filter:
        _weight_gradient_one_filter(x, dy, dw, stride)
    for i in range(oh):
        for j in range(ow):
            for f in range(f_out):
                db[f] += dy[i, j, f]
        if one_filter and not need_dx:
            continue
        r = i * sh
        for m in range(kh):
            for n in range(kw):
                for j in range(ow):
                    q = j * sw + n
                    # dw[m, n, c, :] += x[r+m, q, c] * dy[i, j, :] (one filter: done above)
                    if not one_filter:
                        for c in range(c_in):
                            xv = x[r + m, q, c]
                            for f in range(f_out):
                                dw[m, n, c, f] += xv * dy[i, j, f]
                    if not need_dx:
                        continue
                    # dx[r+m, q, :] += sum_f dy[i, j, f] * w[m, n, :, f]  (the full convolution)
                    for f in range(f_out):
                        g = dy[i, j, f]
                        for c in range(c_in):
                            dx[r + m, q, c] += g * wt[m, n, f, c]


@jit
def conv2d_backward_direct_into(x, w, dy, grads, dx, need_dx, stride):
    """dx (when ``need_dx``), and ``grads`` = (dw, db), all overwritten."""
    dw, db = grads
    kh, kw, c, f = w.shape
    wt = np.empty((kh, kw, f, c), dtype=w.dtype)  # w with its channel axes swapped, by loops: a copy of
    for m in range(kh):  # a transposed view (ascontiguousarray) compiles numba's shape-error formatting
        for n in range(kw):
            for q in range(f):
                for ch in range(c):
                    wt[m, n, q, ch] = w[m, n, ch, q]
    if need_dx:
        dx[:] = 0
    dw[:] = 0
    db[:] = 0
    for s in range(x.shape[0]):
        _backward_one(x[s], wt, dy[s], grads, dx[s], need_dx, stride)


@jit
def _conv2d_backward_serial(x, w, dy, stride):
    dx = np.zeros_like(x)
    dw = np.empty_like(w)
    db = np.empty(w.shape[3], dtype=w.dtype)
    conv2d_backward_direct_into(x, w, dy, (dw, db), dx, True, stride)
    return dx, dw, db


@jit
def _backward_chunk(x, w2, dy2, images, geometry, buffers, dx, need_dx):
    """Images first..stop-1 (``images``) in groups of GROUP, one BLAS product per group for each
    gradient. ``buffers`` = (patches, dpatches, dw_one) for one group, then (dw_part (K, F),
    db_part (F,)), overwritten with the chunk's sums of im2col.T @ dy and of dy; dx of these images
    (N, H, W, C) overwritten with col2im(dy @ w2.T) when ``need_dx``."""
    first, stop = images
    patches, dpatches, dw_one, dw_part, db_part = buffers
    per = dy2.shape[0] // x.shape[0]
    dw_part[:] = 0
    db_part[:] = 0
    for g0 in range(first, stop, GROUP):
        g1 = min(g0 + GROUP, stop)
        rows = (g1 - g0) * per
        for s in range(g0, g1):
            _im2col(x[s], geometry, patches[(s - g0) * per : (s - g0 + 1) * per])
        d = dy2[g0 * per : g1 * per]
        np.dot(patches[:rows].T, d, dw_one)
        dw_part += dw_one
        for r in range(rows):
            for q in range(d.shape[1]):
                db_part[q] += d[r, q]
        if need_dx:
            np.dot(d, w2.T, dpatches[:rows])
            for s in range(g0, g1):
                dx[s] = 0
                _col2im_add(dpatches[(s - g0) * per : (s - g0 + 1) * per], geometry, dx[s])


@jit
def _chunk_images(t, n_img, chunks):
    return t * n_img // chunks, (t + 1) * n_img // chunks


@jit
def _sum_chunks(dw_parts, db_parts, chunks, grads):
    """grads = (dw (K, F), db (F,)) = the chunks' partial sums added in order."""
    dw, db = grads
    k, f = dw.shape
    for a in range(k):  # element by element: an array assigned to a slice compiles numba's error formatting
        for q in range(f):
            dw[a, q] = dw_parts[0, a, q]
    for q in range(f):
        db[q] = db_parts[0, q]
    for t in range(1, chunks):
        dw += dw_parts[t]
        db += db_parts[t]


@jit
def conv2d_backward_gemm_into(x, w, dy, geometry, grads, dx, need_dx, scratch):
    """The im2col path's gradients on one thread, allocating nothing (the compiled training loop's):
    ``grads`` = (dw (KH, KW, C, F), db (F,)) and dx (N, H, W, C, unpadded; when ``need_dx``)
    overwritten; dy (N*OH*OW, F). The batch is cut into min(N, GRAD_CHUNKS) chunks whose partial
    sums are added at the end, as the parallel kernel does, so both give the same numbers."""
    n_img = x.shape[0]
    kh, kw, c, f = w.shape
    k = kh * kw * c
    w2 = w.reshape(k, f)
    (patches, dpatches, dw_one), sums = _scratch_views(scratch, dy.shape[0] // n_img, k, f, 1)
    chunks = min(n_img, GRAD_CHUNKS)
    _backward_chunks(x, w2, dy, geometry, (patches[0], dpatches[0], dw_one[0], sums), (0, chunks), dx, need_dx)
    _sum_chunks(sums[0], sums[1], chunks, (grads[0].reshape(k, f), grads[1]))


@jit
def _backward_chunks(x, w2, dy, geometry, buffers, chunk_range, dx, need_dx):
    """Chunks u0..u1-1 (``chunk_range``) of the batch's min(N, GRAD_CHUNKS): each chunk's partial
    gradients into ``buffers`` = (patches, dpatches, dw_one, (dw_parts, db_parts)) at its index."""
    patches, dpatches, dw_one, (dw_parts, db_parts) = buffers
    n_img = x.shape[0]
    chunks = min(n_img, GRAD_CHUNKS)
    for u in range(chunk_range[0], chunk_range[1]):
        one = (patches, dpatches, dw_one, dw_parts[u], db_parts[u])
        _backward_chunk(x, w2, dy, _chunk_images(u, n_img, chunks), geometry, one, dx, need_dx)


@jit(parallel=True)
def conv2d_backward_gemm_parallel_into(x, w, dy, geometry, grads, dx, need_dx, work):
    """:func:`conv2d_backward_gemm_into` on ``parts`` threads, ``work`` = (scratch, parts): part t
    takes a run of the chunks with its own patches; the chunks' partial sums are added in order
    after them. The same numbers. Call with BLAS on one thread."""
    scratch, parts = work
    n_img = x.shape[0]
    kh, kw, c, f = w.shape
    k = kh * kw * c
    w2 = w.reshape(k, f)
    (patches, dpatches, dw_one), (dw_parts, db_parts) = _scratch_views(scratch, dy.shape[0] // n_img, k, f, parts)
    chunks = min(n_img, GRAD_CHUNKS)
    (sh, sw), (top, bottom, left, right) = geometry[1], geometry[2]
    for t in config.prange(parts):
        geo = ((kh, kw), (sh, sw), (top, bottom, left, right))
        buffers = (patches[t], dpatches[t], dw_one[t], (dw_parts, db_parts))
        _backward_chunks(x, w2, dy, geo, buffers, (t * chunks // parts, (t + 1) * chunks // parts), dx, need_dx)
    _sum_chunks(dw_parts, db_parts, chunks, (grads[0].reshape(k, f), grads[1]))


@jit(parallel=True)
def _conv2d_backward_gemm_parallel(x, w, dy, geometry):
    """The im2col path's (dx, dw, db) for Python callers: the chunks in parallel (call with BLAS on
    one thread). dy (N, OH, OW, F)."""
    n_img = x.shape[0]
    kh, kw, c, f = w.shape
    k = kh * kw * c
    per = dy.shape[1] * dy.shape[2]
    w2 = w.reshape(k, f)
    dy2 = dy.reshape(n_img * per, f)
    chunks = min(n_img, GRAD_CHUNKS)
    dw_parts = np.empty((chunks, k, f), dtype=x.dtype)
    db_parts = np.empty((chunks, f), dtype=x.dtype)
    dx = np.empty_like(x)
    (sh, sw), (top, bottom, left, right) = geometry[1], geometry[2]  # a parfor takes no nested tuples
    for t in config.prange(chunks):
        buffers = (
            np.empty((GROUP * per, k), dtype=x.dtype),
            np.empty((GROUP * per, k), dtype=x.dtype),
            np.empty((k, f), dtype=x.dtype),
            dw_parts[t],
            db_parts[t],
        )
        images = _chunk_images(t, n_img, chunks)
        geo = ((kh, kw), (sh, sw), (top, bottom, left, right))
        _backward_chunk(x, w2, dy2, images, geo, buffers, dx, True)
    dw = np.empty_like(w)
    db = np.empty(f, dtype=x.dtype)
    _sum_chunks(dw_parts, db_parts, chunks, (dw.reshape(k, f), db))
    return dx, dw, db


@jit
def pad_images(x, pads):
    """x (N, H, W, C) with zeros around each image: ``pads`` = (top, bottom, left, right)."""
    top, bottom, left, right = pads
    n, h, wd, c = x.shape
    out = np.zeros((n, h + top + bottom, wd + left + right, c), dtype=x.dtype)
    for s in range(n):  # by loops: an array assigned to a slice compiles numba's shape-error formatting (~2 s)
        for r in range(h):
            for col in range(wd):
                for ch in range(c):
                    out[s, top + r, left + col, ch] = x[s, r, col, ch]
    return out


@jit
def crop_images(dx_padded, pads, out):
    """out (N, H, W, C) = the part of dx_padded that ``pad_images`` copied x into."""
    top, left = pads[0], pads[2]
    n, h, wd, c = out.shape
    for s in range(n):
        for r in range(h):
            for col in range(wd):
                for ch in range(c):
                    out[s, r, col, ch] = dx_padded[s, top + r, left + col, ch]


def _conv_inputs(x, w, extra, extra_name: str, extra_ndim: int, pads=(0, 0, 0, 0)):
    x, w, extra = float_arrays({"x": x, "w": w, extra_name: extra}, {"x": 4, "w": 4, extra_name: extra_ndim})
    _, h, wd, c = x.shape
    kh, kw, wc, _ = w.shape
    if wc != c:
        raise ValueError(f"w must have {c} input channels (axis 2) to match x {x.shape}; got w {w.shape}")
    hp, wp = h + pads[0] + pads[1], wd + pads[2] + pads[3]
    if kh > hp or kw > wp:
        padded = f" padded to {hp}x{wp}" if any(pads) else ""
        raise ValueError(f"w's kernel {kh}x{kw} must fit inside x's {h}x{wd} images{padded} (x {x.shape}, w {w.shape})")
    return x, w, extra


@jit
def use_gemm_path(n, out_size, c, kernel, f):
    """Large convolutions go to the im2col + BLAS kernels (parallel over images), small ones to
    the direct loops, whose per-call cost is lower. The training engine decides the same way."""
    return n * out_size[0] * out_size[1] * kernel[0] * kernel[1] * c * f >= PARALLEL_MIN_MACS


def _gemm_path(x: np.ndarray, w: np.ndarray, stride: tuple[int, int], pads: tuple[int, ...]) -> bool:
    n, h, wd, c = x.shape
    kh, kw, _, f = w.shape
    out_size = output_size(h + pads[0] + pads[1], wd + pads[2] + pads[3], (kh, kw), stride)
    return bool(use_gemm_path(n, out_size, c, (kh, kw), f))


def conv2d_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: Any = 1, padding: Any = 0) -> np.ndarray:
    """Cross-correlation of a batch: x (N, H, W, C), w (KH, KW, C, F), b (F,) -> (N, OH, OW, F).

    out[s, i, j, f] = b[f] + sum_{m, n, c} xp[s, i*sh+m, j*sw+n, c] * w[m, n, c, f], where xp is x
    with ``padding`` zeros around each image (an int, (ph, pw), or (top, bottom, left, right)) and
    ``stride`` = sh or (sh, sw): OH = (H + top + bottom - KH) // sh + 1 (as PyTorch's conv2d,
    channels last). The bias is added once per output channel (the seed added it per input channel).
    """
    stride, pads = conv_geometry(stride, padding)
    x, w, b = _conv_inputs(x, w, b, "b", 1, pads)
    if b.shape != (w.shape[3],):
        raise ValueError(f"b must have shape ({w.shape[3]},), one bias per filter of w {w.shape}; got {b.shape}")
    if _gemm_path(x, w, stride, pads):
        with blas_single_thread():
            return _conv2d_forward_gemm_parallel(x, w, b, ((w.shape[0], w.shape[1]), stride, pads))
    return _conv2d_forward_serial(pad_images(x, pads) if any(pads) else x, w, b, stride)


def conv2d_backward(
    x: np.ndarray, w: np.ndarray, dy: np.ndarray, stride: Any = 1, padding: Any = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of :func:`conv2d_forward` (same ``stride`` and ``padding``) for the upstream
    gradient dy (N, OH, OW, F).

    Returns ``(dx, dw, db)``: dx (N, H, W, C), the full convolution of dy with w (cropped to x when
    padded); dw (KH, KW, C, F), the correlation of x with dy; db (F,), dy summed over N, OH and OW
    (the seed multiplied it by the number of filters).
    """
    stride, pads = conv_geometry(stride, padding)
    x, w, dy = _conv_inputs(x, w, dy, "dy", 4, pads)
    n, h, wd, _ = x.shape
    kh, kw, _, f = w.shape
    oh, ow = output_size(h + pads[0] + pads[1], wd + pads[2] + pads[3], (kh, kw), stride)
    if dy.shape != (n, oh, ow, f):
        raise ValueError(
            f"dy must have shape {(n, oh, ow, f)} (the forward output for x {x.shape}, w {w.shape}); got {dy.shape}"
        )
    if _gemm_path(x, w, stride, pads):
        with blas_single_thread():
            return _conv2d_backward_gemm_parallel(x, w, dy, ((kh, kw), stride, pads))
    dxp, dw, db = _conv2d_backward_serial(pad_images(x, pads) if any(pads) else x, w, dy, stride)
    if not any(pads):
        return dxp, dw, db
    dx = np.empty_like(x)
    crop_images(dxp, pads, dx)
    return dx, dw, db


# The public kernels (kernels/__init__.py exports them; the registry pairs each with its twin).
__all__ = ["conv2d_backward", "conv2d_forward", "convolve2d", "correlate2d"]
