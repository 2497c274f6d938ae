"""Batched 2-D convolution, channels last, with PyTorch's stride and zero padding: the seed
ConvLayer's arithmetic (stride 1, no padding) with its two bias bugs fixed.

Layouts: images (N, H, W, C), filters (KH, KW, C, F), outputs (N, OH, OW, F); OH = H-KH+1 at
stride 1 without padding. The channel axes are innermost so the inner loops run over contiguous
memory and vectorise.

Four algorithms compute it, and :func:`algorithm` is the one place that chooses among them (the
public kernels, the layer path and the training engine all ask it):

- ``DIRECT``: plain loops over every output pixel, one thread; the cheapest per call.
- ``IM2COL``: each image's windows copied into rows of a patch matrix (:func:`_im2col`), then one
  BLAS product per group of images (group_images); its gradients are two more products per group, the
  weight gradient summed over fixed chunks of the batch (_chunks).
- ``PLANAR``: the forward pass of one-input-channel layers as loops over each filter's whole output
  plane (stride 1, no padding); its gradients are IM2COL's.
- ``WINOGRAD``: stride-1 3x3 layers by Winograd's F(4x4, 3x3) (kernels.winograd): 36 products per
  4x4 output tile and (channel, filter) pair instead of 144, as 36 BLAS products per group of
  tiles, in all three directions.

IM2COL, PLANAR and WINOGRAD split a batch over ``parts`` threads by whole groups (forward) and
whole chunks (backward), so their numbers do not depend on the thread count. A ``layer`` below is
the tuple ``((h, w, c), (kh, kw), filters, stride, pads)``, ``geometry`` is ``(kernel, stride,
pads)``, and pads are (top, bottom, left, right).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _runs, cache, config
from . import dense as KD
from . import winograd as WG
from ._checks import conv_geometry, float_arrays
from .config import blas_single_thread, jit

DIRECT, IM2COL, PLANAR, WINOGRAD = 0, 1, 2, 3
ALGORITHMS = {"direct": DIRECT, "im2col": IM2COL, "planar": PLANAR, "winograd": WINOGRAD}
# Convolutions of fewer multiply-adds than this per batch (forward) run DIRECT; larger ones IM2COL,
# PLANAR or WINOGRAD (IM2COL: 3-6x faster on the benchmark layer). Below it, the copies, the BLAS calls and a
# parallel region's start-up cost more than they save.
IM2COL_MIN_MACS = 200_000
# Images per BLAS product on the im2col path: at least GROUP -- one product for 4 images' patches
# measured ~14% faster than one per image (W1's second layer, float32, 2 BLAS threads); 8 spilled
# the cache (so did 8 on LeNet-5's 8x8 second layer: 0.77 -> 0.95 ms backward) -- and enough for
# GROUP_ROWS patch rows: 2x2 outputs made 16-row products running BLAS at a fraction of its speed
# (64 images, 2x2x128 -> 128 padded, forward + backward, one thread: 6.95 -> 2.6 ms; PyTorch 2.3-2.6).
GROUP = 4
GROUP_ROWS = 256
# One-input-channel layers with at most this many filters (LeNet-5's first: 6) take PLANAR: the
# product im2col would make is too thin there (28x28, 5x5, 6 filters, batch 64, one thread: 1.06 ->
# 0.33 ms; equal near 10-12 filters, BLAS ahead beyond).
PLANAR_MAX_FILTERS = 8
# Stride-1 3x3 layers with at least this many input channels and filters, and outputs of at least
# WINOGRAD_MIN_OUTPUT rows and columns, take WINOGRAD: 36 products per 4x4 output tile where IM2COL
# takes 144, worth its transforms from here on (float32, 64 images, forward + backward, one thread,
# AMD EPYC, OpenBLAS SkylakeX kernels, IM2COL -> WINOGRAD: 26x26x8 -> 16 filters 8.7 -> 7.7 ms,
# 26x26x16 -> 32 19.7 -> 12.1 ms, 7x7x64 -> 64 8.7 -> 4.3 ms; 3 channels a tie, 13.1 -> 13.6 ms; a 2x2
# output a loss, 8.4 -> 13.4 ms, 4x4 a tie).
WINOGRAD_MIN_CHANNELS = 8
WINOGRAD_MIN_OUTPUT = 4
# Fixed number of batch chunks whose weight gradients are summed at the end of an IM2COL backward
# pass: results then depend on the batch size only, not on the thread count.
GRAD_CHUNKS = 16
# ... and fewer when one chunk's partial weight gradient (KH*KW*C*F floats, WINOGRAD's 36*C*F) is
# large, so that all of them take at most about this many floats (never fewer than 2 chunks): at 16
# chunks a 3x3 layer of 256 channels in and out kept 151 MB of partial sums (float32), 512 channels
# 600 MB.
CHUNK_FLOATS = 4_000_000


@jit
def chunk_limit(part):
    """Chunks at most, for partial weight gradients of ``part`` floats each (see CHUNK_FLOATS)."""
    return max(2, min(GRAD_CHUNKS, CHUNK_FLOATS // part))


# Threads IM2COL, PLANAR and WINOGRAD may split a batch over (a layer's scratch in the engine is
# sized for this many).
MAX_PARTS = cache.split_cores() if config.PARALLEL else 1


# --------------------------------------------------------------------------- choosing


@jit
def output_size(h, wd, kernel, stride):
    """(OH, OW) of a valid convolution of (already padded) h x wd images."""
    kh, kw = kernel
    sh, sw = stride
    return (h - kh) // sh + 1, (wd - kw) // sw + 1


@jit
def planar_applies(c, stride, pads):
    """Whether PLANAR can compute a layer: one input channel, stride 1, no padding."""
    return (
        c == 1 and stride[0] == 1 and stride[1] == 1 and pads[0] == 0 and pads[1] == 0 and pads[2] == 0 and pads[3] == 0
    )


@jit
def winograd_applies(kernel, stride):
    """Whether WINOGRAD can compute a layer: a 3x3 kernel at stride 1 (any padding)."""
    return kernel[0] == 3 and kernel[1] == 3 and stride[0] == 1 and stride[1] == 1


@jit
def algorithm(n, layer):
    """DIRECT, IM2COL, PLANAR or WINOGRAD for a batch of ``n`` images through ``layer``: the one
    choice of algorithm (the layer path, the engine and the public kernels all call it). The
    backward pass of a PLANAR layer takes IM2COL's gradients."""
    (h, wd, c), (kh, kw), f, stride, pads = layer
    oh, ow = output_size(h + pads[0] + pads[1], wd + pads[2] + pads[3], (kh, kw), stride)
    if n * oh * ow * kh * kw * c * f < IM2COL_MIN_MACS:
        return DIRECT
    if f <= PLANAR_MAX_FILTERS and planar_applies(c, stride, pads):
        return PLANAR
    big = min(c, f) >= WINOGRAD_MIN_CHANNELS and min(oh, ow) >= WINOGRAD_MIN_OUTPUT
    if big and winograd_applies((kh, kw), stride):
        return WINOGRAD
    return IM2COL


@jit
def group_images(pixels):
    """Images per IM2COL group for outputs of ``pixels`` (OH*OW) each (see GROUP_ROWS)."""
    return max(GROUP, (GROUP_ROWS + pixels - 1) // pixels)


@jit
def _scratch_dims(layer):
    """(rows, k, f, planar): a group's patch rows, their length KH*KW*C, the filters, and the floats
    PLANAR's buffer takes for one image (see _forward_planar)."""
    (h, wd, c), (kh, kw), f, (sh, sw), (top, bottom, left, right) = layer
    oh, ow = (h + top + bottom - kh) // sh + 1, (wd + left + right - kw) // sw + 1
    return group_images(oh * ow) * oh * ow, kh * kw * c, f, kw * h * ow + oh * ow


@jit
def scratch_sizes(layer):
    """(per part, shared): the floats of scratch one thread's buffers take, and those all threads
    share, for ``layer`` under any algorithm but DIRECT (none). IM2COL and PLANAR: per part a group's
    patches or PLANAR's buffer (the larger), the patches' gradients and one weight-gradient product;
    shared, every chunk's partial weight and bias gradients. WINOGRAD (3x3, stride 1): see
    kernels.winograd.part_views, and U with every chunk's partial dU and bias gradients. Plain
    arithmetic, no calls: Python callers (a layer's encoding) run its py_func without numba."""
    (h, wd, c), (kh, kw), f, (sh, sw), (top, bottom, left, right) = layer
    oh, ow = (h + top + bottom - kh) // sh + 1, (wd + left + right - kw) // sw + 1
    per_group = max(GROUP, (GROUP_ROWS + oh * ow - 1) // (oh * ow))  # group_images, written out
    rows, k, planar = per_group * oh * ow, kh * kw * c, kw * h * ow + oh * ow
    chunks = max(2, min(GRAD_CHUNKS, CHUNK_FLOATS // (k * f)))  # chunk_limit, written out
    part, shared = max(rows * k, planar) + rows * k + k * f, chunks * (k * f + f)
    if kh == 3 and kw == 3 and sh == 1 and sw == 1:
        th, tw = (oh + 3) // 4, (ow + 3) // 4
        tiles = max(1, WG.GROUP_TILES // (th * tw)) * th * tw
        part = max(part, 36 * tiles * (2 * c + f) + 36 * c * f)
        chunks = max(2, min(GRAD_CHUNKS, CHUNK_FLOATS // (36 * c * f)))
        shared = max(shared, 36 * c * f * (1 + chunks) + chunks * f)
    return part, shared


def scratch_size(layer: tuple, parts: int) -> int:
    """Floats of scratch ``layer`` takes on ``parts`` threads (see scratch_sizes)."""
    part, shared = scratch_sizes.py_func(layer)
    return int(parts * part + shared)


@jit
def _blocks(scratch, layer, parts):
    """(blocks (parts, per part), shared) carved from ``scratch`` (see scratch_sizes)."""
    part, shared = scratch_sizes(layer)
    return scratch[: parts * part].reshape(parts, part), scratch[parts * part : parts * part + shared]


@jit
def _im2col_views(block, layer):
    """(space, dpatches (rows, k), dw_one (k, f)) of one part's block: space holds a group's patches
    (rows, k) or PLANAR's buffer."""
    rows, k, f, planar = _scratch_dims(layer)
    size = max(rows * k, planar)
    return block[:size], block[size : size + rows * k].reshape(rows, k), block[size + rows * k :][: k * f].reshape(k, f)


@jit
def _chunk_sums(shared, layer):
    """(dw_parts (chunk_limit, k, f), db_parts (chunk_limit, f)): IM2COL's per-chunk gradients."""
    _, k, f, _ = _scratch_dims(layer)
    n = chunk_limit(k * f)
    return shared[: n * k * f].reshape(n, k, f), shared[n * k * f : n * (k * f + f)].reshape(n, f)


@jit
def _winograd_shared(shared, layer):
    """(u (36, C, F), du_parts (chunk_limit, 36, C, F), db_parts (chunk_limit, F)): WINOGRAD's."""
    c, f = layer[0][2], layer[2]
    n = chunk_limit(36 * c * f)
    u = shared[: 36 * c * f].reshape(36, c, f)
    o = 36 * c * f
    du_parts = shared[o : o + n * 36 * c * f].reshape(n, 36, c, f)
    o += n * 36 * c * f
    return u, du_parts, shared[o : o + n * f].reshape(n, f)


@jit
def _layer(x, w, geometry):
    """The ``layer`` tuple of a call: x (N, H, W, C) unpadded, w (KH, KW, C, F)."""
    kernel, stride, pads = geometry
    return (x.shape[1], x.shape[2], x.shape[3]), kernel, w.shape[3], stride, pads


# --------------------------------------------------------------------------- DIRECT
# ``stride`` = (sh, sw). These loops take x already padded (see pad_images).


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
def _forward_one_channel(x, w, b, out, stride, row):
    """_forward_one for one input channel and several filters (MNIST's and digits' first layers):
    output row i is summed in ``row`` (OW * F floats), tap by tap, each tap over the whole row, so
    consecutive additions go to different outputs instead of waiting on one another through memory
    (8x8 -> 6x6x8: 1.1 -> 0.84 us; 28x28 -> 24x24x6: 30 -> 17 us). Each output element sees the same
    additions in the same order as in _forward_one."""
    kh, kw, _, f_out = w.shape
    oh, ow = out.shape[0], out.shape[1]
    sh, sw = stride
    taps = w.reshape(kh * kw, f_out)
    for i in range(oh):
        for j in range(ow):
            for f in range(f_out):
                row[j * f_out + f] = b[f]
        for m in range(kh):
            for n in range(kw):
                t = m * kw + n
                for j in range(ow):
                    xv = x[i * sh + m, j * sw + n, 0]
                    for f in range(f_out):
                        row[j * f_out + f] += xv * taps[t, f]
        for j in range(ow):
            for f in range(f_out):
                out[i, j, f] = row[j * f_out + f]


@jit
def conv2d_forward_direct_into(x, w, b, out, stride):
    if w.shape[2] == 1 and w.shape[3] > 1:
        row = np.empty(out.shape[2] * out.shape[3], dtype=out.dtype)
        for s in range(x.shape[0]):
            _forward_one_channel(x[s], w, b, out[s], stride, row)
        return
    for s in range(x.shape[0]):
        _forward_one(x[s], w, b, out[s], stride)


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
def _weight_gradient(x, dy, dw, stride):
    """dw (KH, KW, C, F) += the products of one image's windows x (H, W, C) with dy (OH, OW, F), each
    weight's added over (i, j) in order. Pixel by pixel, every tap of the pixel in turn: consecutive
    additions go to different weights instead of waiting on one another through memory (8x8x1 ->
    6x6x8: 1.38 -> 1.14 us; 10x10x8 -> 8x8x16: 15.6 -> 10.5 us)."""
    kh, kw, c_in, f_out = dw.shape
    oh, ow = dy.shape[0], dy.shape[1]
    sh, sw = stride
    for i in range(oh):
        for j in range(ow):
            g = dy[i, j]
            for m in range(kh):
                for n in range(kw):
                    q = j * sw + n
                    for c in range(c_in):
                        xv = x[i * sh + m, q, c]
                        wr = dw[m, n, c]
                        for f in range(f_out):
                            wr[f] += xv * g[f]


@jit
def _backward_one(x, wt, dy, grads, dx, need_dx, stride):
    """One image; accumulates into dx (H, W, C) and ``grads`` = (dw (KH, KW, C, F), db (F,) float64).

    ``wt`` is w transposed to (KH, KW, F, C) so the dx update runs over contiguous channels (empty
    when not ``need_dx``, which skips dx: a network's first layer; dw and db are computed identically).
    """
    dw, db = grads
    kh, kw, c_in, f_out = dw.shape
    oh, ow = dy.shape[0], dy.shape[1]
    sh, sw = stride
    if f_out == 1:
        _weight_gradient_one_filter(x, dy, dw, stride)
    else:
        _weight_gradient(x, dy, dw, stride)
    for i in range(oh):
        for j in range(ow):
            for f in range(f_out):
                db[f] += dy[i, j, f]
    if not need_dx:
        return
    for i in range(oh):
        r = i * sh
        for m in range(kh):
            for n in range(kw):
                for j in range(ow):
                    q = j * sw + n
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
    # w with its channel axes swapped, for dx only, by loops: a copy of a transposed view
    # (ascontiguousarray) compiles numba's shape-error formatting.
    wt = np.empty((kh, kw, f, c) if need_dx else (0, 0, 0, 0), dtype=w.dtype)
    if need_dx:
        for m in range(kh):
            for n in range(kw):
                for q in range(f):
                    for ch in range(c):
                        wt[m, n, q, ch] = w[m, n, ch, q]
        dx[:] = 0
    dw[:] = 0
    db64 = np.zeros(f, dtype=np.float64)  # see kernels.dense.add_column_sums
    for s in range(x.shape[0]):
        _backward_one(x[s], wt, dy[s], (dw, db64), dx[s], need_dx, stride)
    for q in range(f):
        db[q] = db64[q]


# --------------------------------------------------------------------------- IM2COL and PLANAR
# These read the padding as zeros (``geometry`` = (kernel, stride, pads)): no padded copy is made.


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
                else:  # a window over the left or right padding: a run of C values per column
                    for n in range(kw):
                        col = q0 + n
                        seg = dst[n * c : (n + 1) * c]
                        if 0 <= col < w:
                            line = rows[src, col * c : (col + 1) * c]
                            for ch in range(c):
                                seg[ch] = line[ch]
                        else:
                            for ch in range(c):
                                seg[ch] = 0


@jit
def _im2col_one_channel(x, geometry, pt, col0):
    """The patches of one one-channel image x (H, W, 1), transposed: pt[m*KW + n, col0 + i*OW + j]
    = xp[i*sh + m, j*sw + n], xp being x with zeros around it. Each tap's values along an output row
    are one run of x's row (contiguous at stride 1), where _im2col copies runs of KW values: the
    first layer of an MNIST-sized network's 64 images 0.77 -> 0.2 ms (28x28, 5x5)."""
    h, w = x.shape[0], x.shape[1]
    (kh, kw), (sh, sw), (top, bottom, left, right) = geometry
    oh, ow = output_size(h + top + bottom, w + left + right, (kh, kw), (sh, sw))
    img = x.reshape(h, w)
    for m in range(kh):
        for n in range(kw):
            t = m * kw + n
            # Output columns j whose input column j*sw + n - left lies inside the image: j0 <= j < j1.
            j0 = min(ow, max(0, (left - n + sw - 1) // sw))
            j1 = max(j0, min(ow, (w - 1 + left - n) // sw + 1))
            for i in range(oh):
                dst = pt[t, col0 + i * ow : col0 + (i + 1) * ow]
                src = i * sh + m - top
                if src < 0 or src >= h:
                    dst[:] = 0
                    continue
                for j in range(j0):
                    dst[j] = 0
                if sw == 1:  # slices: indices the compiler knows >= 0, so the copy vectorises
                    run, line = dst[j0:j1], img[src, j0 + n - left : j1 + n - left]
                    for q in range(j1 - j0):
                        run[q] = line[q]
                else:
                    row = img[src]
                    for j in range(j0, j1):
                        dst[j] = row[j * sw + n - left]
                for j in range(j1, ow):
                    dst[j] = 0


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
                            line, seg = rows[dst_row, col * c : (col + 1) * c], src[n * c : (n + 1) * c]
                            for ch in range(c):
                                line[ch] += seg[ch]


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
def _forward_group(x, w2, b, image_range, geometry, space, out, planar):
    """Images first..stop-1 (``image_range``): their rows of ``out`` (N*OH*OW, F) = im2col @ w2 + b,
    one BLAS product for the group through ``space``, or PLANAR's loops with ``space`` as buffer."""
    first, stop = image_range
    per = out.shape[0] // x.shape[0]
    if planar:
        for s in range(first, stop):
            _forward_planar(x[s], w2, b, geometry[0], space, out[s * per : (s + 1) * per])
        return
    k, rows = w2.shape[0], (stop - first) * per
    o = out[first * per : stop * per]
    if x.shape[3] == 1:
        pt = space[: k * rows].reshape(k, rows)
        for s in range(first, stop):
            _im2col_one_channel(x[s], geometry, pt, (s - first) * per)
        np.dot(pt.T, w2, o)
    else:
        patches = space[: rows * k].reshape(rows, k)
        for s in range(first, stop):
            _im2col(x[s], geometry, patches[(s - first) * per : (s - first + 1) * per])
        np.dot(patches, w2, o)
    for r in range(o.shape[0]):
        for q in range(o.shape[1]):
            o[r, q] += b[q]


@jit
def _forward_groups(x, w2, b, geometry, out, space, group_range, planar):
    """Groups g0..g1-1 (``group_range``) of group_images images, each through ``space``."""
    n_img = x.shape[0]
    per = group_images(out.shape[0] // n_img)
    for g in range(group_range[0], group_range[1]):
        _forward_group(x, w2, b, (g * per, min(g * per + per, n_img)), geometry, space, out, planar)


@jit
def _groups(algo, n_img, layer):
    """How many groups a batch of ``n_img`` images makes: group_images each, WINOGRAD's own count."""
    if algo == WINOGRAD:
        per = WG.images_per_group(layer, n_img)
    else:
        (h, wd, _), kernel, _, stride, pads = layer
        oh, ow = output_size(h + pads[0] + pads[1], wd + pads[2] + pads[3], kernel, stride)
        per = group_images(oh * ow)
    return (n_img + per - 1) // per


@jit
def _chunks(algo, n_img, layer):
    """How many chunks the backward pass cuts a batch into (their weight gradients summed in order
    at the end): GRAD_CHUNKS, fewer for large weight gradients (chunk_limit), and no more than its
    groups (a chunk smaller than a group would only shorten the products and add partial sums).
    Shapes only, never threads: the same chunks, the same numbers."""
    c, f = layer[0][2], layer[2]
    part = 36 * c * f if algo == WINOGRAD else layer[1][0] * layer[1][1] * c * f
    return min(chunk_limit(part), _groups(algo, n_img, layer))


@jit
def _prepared(algo, w, shared, layer):
    """WINOGRAD's filter transform u (36, C, F), written into ``shared``; other algorithms: empty."""
    if algo == WINOGRAD:
        u = _winograd_shared(shared, layer)[0]
        WG.filter_transform(w, u)
        return u
    return shared[:0].reshape(0, 1, 1)


@jit
def _forward_part(algo, x, params, geometry, out, block, group_range):
    """Groups g0..g1-1 (``group_range``) of the batch through one part's ``block``; ``params`` =
    (w, b, u), u WINOGRAD's transformed filters."""
    w, b, u = params
    if algo == WINOGRAD:
        WG.forward_groups(x, u, b, geometry[2], out, block, group_range)
        return
    kh, kw, c, f = w.shape
    out2 = out.reshape(out.shape[0] * out.shape[1] * out.shape[2], f)
    space = _im2col_views(block, _layer(x, w, geometry))[0]
    _forward_groups(x, w.reshape(kh * kw * c, f), b, geometry, out2, space, group_range, algo == PLANAR)


@jit
def direct_forward(x, w, b, geometry, out):
    """DIRECT's forward pass: out (N, OH, OW, F) overwritten (a padded copy of x when the layer pads).
    Its own entry point, so a small convolution compiles nothing of the other algorithms."""
    stride, pads = geometry[1], geometry[2]
    padded = pads[0] or pads[1] or pads[2] or pads[3]
    conv2d_forward_direct_into(pad_images(x, pads) if padded else x, w, b, out, stride)


@jit
def direct_backward(x, w, dy, geometry, outs, need_dx):
    """DIRECT's backward pass, ``outs`` = (dx, dw, db) as in backward_serial."""
    stride, pads = geometry[1], geometry[2]
    dx, grads = outs[0], (outs[1], outs[2])
    if not (pads[0] or pads[1] or pads[2] or pads[3]):
        conv2d_backward_direct_into(x, w, dy, grads, dx, need_dx, stride)
        return
    xp = pad_images(x, pads)
    gxp = np.empty_like(xp)
    conv2d_backward_direct_into(xp, w, dy, grads, gxp, need_dx, stride)
    if need_dx:
        crop_images(gxp, pads, dx)


@jit
def forward_serial(algo, x, w, b, geometry, out, scratch):
    """The forward pass on this thread: x (N, H, W, C) unpadded, out (N, OH, OW, F) overwritten;
    ``scratch``: scratch_size(layer, 1) floats (DIRECT ignores it, and pads a copy of x when the
    layer pads)."""
    if algo == DIRECT:
        direct_forward(x, w, b, geometry, out)
        return
    layer = _layer(x, w, geometry)
    blocks, shared = _blocks(scratch, layer, 1)
    u = _prepared(algo, w, shared, layer)
    _forward_part(algo, x, (w, b, u), geometry, out, blocks[0], (0, _groups(algo, x.shape[0], layer)))


@jit(parallel=True)
def forward_parallel(algo, x, w, b, geometry, out, split):
    """:func:`forward_serial` for IM2COL, PLANAR and WINOGRAD on several threads, ``split`` =
    (scratch of scratch_size(layer, parts) floats, parts): part t takes a run of whole groups with
    its own block. The same products on the same rows: the same numbers. Call from Python with BLAS
    on one thread."""
    scratch, parts = split
    layer = _layer(x, w, geometry)
    blocks, shared = _blocks(scratch, layer, parts)
    u = _prepared(algo, w, shared, layer)
    groups = _groups(algo, x.shape[0], layer)
    (kh, kw), (sh, sw), (top, bottom, left, right) = geometry  # a parfor takes no nested tuples
    for t in config.prange(parts):
        geo = ((kh, kw), (sh, sw), (top, bottom, left, right))
        _forward_part(algo, x, (w, b, u), geo, out, blocks[t], _runs.run(t, parts, groups, 1))


@jit
def _backward_chunk(x, w2, dy2, image_range, geometry, buffers, dx, need_dx):
    """Images first..stop-1 (``image_range``) in groups of group_images, one BLAS product per group for each
    gradient. ``buffers`` = (space, dpatches, dw_one) for one group, then (dw_part (K, F), db_part
    (F,)), overwritten with the chunk's sums of im2col.T @ dy and of dy; dx of these images (N, H,
    W, C) overwritten with col2im(dy @ w2.T) when ``need_dx``."""
    first, stop = image_range
    space, dpatches, dw_one, dw_part, db_part = buffers
    per = dy2.shape[0] // x.shape[0]
    k = w2.shape[0]
    group = group_images(per)
    patches = space[: group * per * k].reshape(group * per, k)
    dw_part[:] = 0
    db64 = np.zeros(db_part.size, dtype=np.float64)
    for g0 in range(first, stop, group):
        g1 = min(g0 + group, stop)
        rows = (g1 - g0) * per
        d = dy2[g0 * per : g1 * per]
        if x.shape[3] == 1:
            pt = space[: k * rows].reshape(k, rows)
            for s in range(g0, g1):
                _im2col_one_channel(x[s], geometry, pt, (s - g0) * per)
            np.dot(pt, d, dw_one)
        else:
            for s in range(g0, g1):
                _im2col(x[s], geometry, patches[(s - g0) * per : (s - g0 + 1) * per])
            np.dot(patches[:rows].T, d, dw_one)
        dw_part += dw_one
        KD.add_column_sums(d, db64)
        if need_dx:
            np.dot(d, w2.T, dpatches[:rows])
            for s in range(g0, g1):
                dx[s] = 0
                _col2im_add(dpatches[(s - g0) * per : (s - g0 + 1) * per], geometry, dx[s])
    for q in range(db_part.size):
        db_part[q] = db64[q]


@jit
def _chunk_images(t, n_img, chunks):
    return t * n_img // chunks, (t + 1) * n_img // chunks


@jit
def _sum_chunk_rows(sums, chunks, out, rows):
    """Rows rows[0]..rows[1]-1 of out (K, F) = the chunks' partial sums ``sums`` (>= chunks, K, F)
    added in chunk order, element by element (so any cut into rows gives the same numbers)."""
    f = out.shape[1]
    for a in range(rows[0], rows[1]):
        for q in range(f):
            out[a, q] = sums[0, a, q]
    for t in range(1, chunks):
        for a in range(rows[0], rows[1]):
            for q in range(f):
                out[a, q] += sums[t, a, q]


@jit
def _chunk_weight_sums(algo, shared, layer, dw):
    """(the chunks' partial weight gradients (chunk_limit, K, F), the (K, F) array they add into):
    dw for IM2COL, the transformed filters' gradient du (36 C, F) for WINOGRAD."""
    kh, kw, c, f = dw.shape
    if algo == WINOGRAD:
        du, du_parts, _ = _winograd_shared(shared, layer)  # du replaces u, no longer needed
        return du_parts.reshape(du_parts.shape[0], 36 * c, f), du.reshape(36 * c, f)
    return _chunk_sums(shared, layer)[0], dw.reshape(kh * kw * c, f)


@jit
def _end_backward(algo, shared, layer, n_img, grads):
    """After the weight sums: db (F,) from the chunks' partial sums in order, and WINOGRAD's dw from du."""
    dw, db = grads
    chunks = _chunks(algo, n_img, layer)
    db_parts = _winograd_shared(shared, layer)[2] if algo == WINOGRAD else _chunk_sums(shared, layer)[1]
    for q in range(db.size):
        db[q] = db_parts[0, q]
    for t in range(1, chunks):
        for q in range(db.size):
            db[q] += db_parts[t, q]
    if algo == WINOGRAD:
        WG.filter_gradient(_winograd_shared(shared, layer)[0], dw)


@jit
def _backward_part(algo, inputs, geometry, where, chunk_range, dx, need_dx):
    """Chunks u0..u1-1 (``chunk_range``) of the batch's _chunks: each chunk's partial
    gradients into the shared per-chunk sums at its index, dx of its images when ``need_dx``.
    ``inputs`` = (x, w, u, dy (N, OH, OW, F)), ``where`` = (this part's block, shared)."""
    x, w, u, dy = inputs
    block, shared = where
    layer = _layer(x, w, geometry)
    n_img = x.shape[0]
    chunks = _chunks(algo, n_img, layer)
    if algo == WINOGRAD:
        du_parts, db_parts = _winograd_shared(shared, layer)[1:]
        for t in range(chunk_range[0], chunk_range[1]):
            images = _chunk_images(t, n_img, chunks)
            WG.backward_images(x, u, dy, images, geometry[2], block, (du_parts[t], db_parts[t], dx), need_dx)
        return
    kh, kw, c, f = w.shape
    w2 = w.reshape(kh * kw * c, f)
    dy2 = dy.reshape(dy.shape[0] * dy.shape[1] * dy.shape[2], f)
    dw_parts, db_parts = _chunk_sums(shared, layer)
    space, dpatches, dw_one = _im2col_views(block, layer)
    for t in range(chunk_range[0], chunk_range[1]):
        buffers = (space, dpatches, dw_one, dw_parts[t], db_parts[t])
        _backward_chunk(x, w2, dy2, _chunk_images(t, n_img, chunks), geometry, buffers, dx, need_dx)


@jit
def _finish_backward(algo, shared, layer, n_img, grads):
    """grads = (dw (KH, KW, C, F), db (F,)) from the chunks' partial sums, added in order."""
    sums, out = _chunk_weight_sums(algo, shared, layer, grads[0])
    _sum_chunk_rows(sums, _chunks(algo, n_img, layer), out, (0, out.shape[0]))
    _end_backward(algo, shared, layer, n_img, grads)


@jit
def backward_serial(algo, x, w, dy, geometry, outs, need_dx, scratch):
    """The backward pass on this thread: ``outs`` = (dx (N, H, W, C), unpadded; written when
    ``need_dx``), dw (KH, KW, C, F), db (F,)) overwritten, dy (N, OH, OW, F). IM2COL (PLANAR's
    gradients are IM2COL's) and WINOGRAD cut the batch into _chunks whose
    partial sums are added at the end, as backward_parallel does, so both give the same numbers."""
    dx, grads = outs[0], (outs[1], outs[2])
    if algo == DIRECT:
        direct_backward(x, w, dy, geometry, outs, need_dx)
        return
    layer = _layer(x, w, geometry)
    blocks, shared = _blocks(scratch, layer, 1)
    u = _prepared(algo, w, shared, layer)
    chunks = _chunks(algo, x.shape[0], layer)
    _backward_part(algo, (x, w, u, dy), geometry, (blocks[0], shared), (0, chunks), dx, need_dx)
    _finish_backward(algo, shared, layer, x.shape[0], grads)


@jit(parallel=True)
def backward_parallel(algo, x, w, dy, geometry, outs, need_dx, split):
    """:func:`backward_serial` for IM2COL (and PLANAR) and WINOGRAD on several threads, ``split`` as
    in forward_parallel: part t takes a run of the chunks with its own block; the chunks' partial
    sums are added in order after them, each part a run of rows. The same numbers. Call from Python
    with BLAS on one thread."""
    scratch, parts = split
    dx, dw, db = outs
    layer = _layer(x, w, geometry)
    blocks, shared = _blocks(scratch, layer, parts)
    u = _prepared(algo, w, shared, layer)
    chunks = _chunks(algo, x.shape[0], layer)
    (kh, kw), (sh, sw), (top, bottom, left, right) = geometry  # a parfor takes no nested tuples
    for t in config.prange(parts):
        geo = ((kh, kw), (sh, sw), (top, bottom, left, right))
        span = _runs.run(t, parts, chunks, 1)
        _backward_part(algo, (x, w, u, dy), geo, (blocks[t], shared), span, dx, need_dx)
    sums, out = _chunk_weight_sums(algo, shared, layer, dw)
    rows = out.shape[0]
    for t in config.prange(parts):  # _finish_backward, its sums cut into rows
        _sum_chunk_rows(sums, chunks, out, _runs.run(t, parts, rows, 1))
    _end_backward(algo, shared, layer, x.shape[0], (dw, db))


# --------------------------------------------------------------------------- padding


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


def parts_for(algo: int, n: int) -> int:
    """Threads a Python caller splits a batch of ``n`` images over: numba's count, at most MAX_PARTS
    and one per image -- 1 for DIRECT."""
    if algo == DIRECT:
        return 1
    return max(1, min(config.threads(), MAX_PARTS, n))


def _algorithm_code(name: Any, n: int, layer: tuple) -> int:
    """The algorithm ``name`` asks for ("auto": :func:`algorithm`'s choice), checked against the layer."""
    if not isinstance(name, str) or (name != "auto" and name not in ALGORITHMS):
        raise ValueError(f"algorithm must be 'auto' or one of {sorted(ALGORITHMS)}; got {name!r}")
    if name == "auto":
        return int(algorithm.py_func(n, layer))
    (_, _, c), _, _, stride, pads = layer
    if name == "planar" and not planar_applies.py_func(c, stride, pads):
        raise ValueError(
            f"algorithm 'planar' needs one input channel, stride 1 and no padding; got {c} channels, "
            f"stride {stride}, padding {pads}"
        )
    kernel = layer[1]
    if name == "winograd" and not winograd_applies.py_func(kernel, stride):
        raise ValueError(f"algorithm 'winograd' needs a 3x3 kernel and stride 1; got kernel {kernel}, stride {stride}")
    return ALGORITHMS[name]


def _run(forward: bool, algo: int, arrays: tuple, geometry: tuple, layer: tuple) -> None:
    """One pass through the kernels the algorithm takes, on as many threads as it may use, with BLAS
    at one thread (OpenBLAS's own threads would change the products' last bits with the count)."""
    parts = parts_for(algo, arrays[0].shape[0])
    dtype = arrays[0].dtype
    scratch = np.empty(scratch_size(layer, parts) if algo != DIRECT else 1, dtype=dtype)
    if algo == DIRECT:  # its own entry points: a small convolution compiles only DIRECT's loops
        if forward:
            x, w, b, out = arrays
            direct_forward(x, w, b, geometry, out)
        else:
            x, w, dy, dw, db, dx = arrays
            direct_backward(x, w, dy, geometry, (dx, dw, db), True)
        return
    with blas_single_thread():
        if forward:
            x, w, b, out = arrays
            if parts == 1:
                forward_serial(algo, x, w, b, geometry, out, scratch)
            else:
                forward_parallel(algo, x, w, b, geometry, out, (scratch, parts))
            return
        x, w, dy, dw, db, dx = arrays
        if parts == 1:
            backward_serial(algo, x, w, dy, geometry, (dx, dw, db), True, scratch)
        else:
            backward_parallel(algo, x, w, dy, geometry, (dx, dw, db), True, (scratch, parts))


def conv2d_forward(
    x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: Any = 1, padding: Any = 0, algorithm: str = "auto"
) -> np.ndarray:
    """Cross-correlation of a batch: x (N, H, W, C), w (KH, KW, C, F), b (F,) -> (N, OH, OW, F).

    out[s, i, j, f] = b[f] + sum_{m, n, c} xp[s, i*sh+m, j*sw+n, c] * w[m, n, c, f], where xp is x
    with ``padding`` zeros around each image (an int, (ph, pw), or (top, bottom, left, right)) and
    ``stride`` = sh or (sh, sw): OH = (H + top + bottom - KH) // sh + 1 (as PyTorch's conv2d,
    channels last). The bias is added once per output channel (the seed added it per input channel).
    ``algorithm``: "auto" (the choice the layers make), or "direct", "im2col", "planar" (one input
    channel, stride 1, no padding), "winograd" (3x3, stride 1) to force one; each sums in its own
    order (Winograd's also transforms: its rounding differs from the direct sums' by a few ulps).
    """
    stride, pads = conv_geometry(stride, padding)
    x, w, b = _conv_inputs(x, w, b, "b", 1, pads)
    if b.shape != (w.shape[3],):
        raise ValueError(f"b must have shape ({w.shape[3]},), one bias per filter of w {w.shape}; got {b.shape}")
    n, h, wd, c = x.shape
    kh, kw, _, f = w.shape
    layer = ((h, wd, c), (kh, kw), f, stride, pads)
    algo = _algorithm_code(algorithm, n, layer)
    oh, ow = output_size.py_func(h + pads[0] + pads[1], wd + pads[2] + pads[3], (kh, kw), stride)
    out = np.empty((n, oh, ow, f), dtype=x.dtype)
    _run(True, algo, (x, w, b, out), ((kh, kw), stride, pads), layer)
    return out


def conv2d_backward(
    x: np.ndarray, w: np.ndarray, dy: np.ndarray, stride: Any = 1, padding: Any = 0, algorithm: str = "auto"
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of :func:`conv2d_forward` (same ``stride`` and ``padding``) for the upstream
    gradient dy (N, OH, OW, F).

    Returns ``(dx, dw, db)``: dx (N, H, W, C), the full convolution of dy with w (cropped to x when
    padded); dw (KH, KW, C, F), the correlation of x with dy; db (F,), dy summed over N, OH and OW
    (the seed multiplied it by the number of filters). ``algorithm`` as in :func:`conv2d_forward`
    ("planar" computes IM2COL's gradients).
    """
    stride, pads = conv_geometry(stride, padding)
    x, w, dy = _conv_inputs(x, w, dy, "dy", 4, pads)
    n, h, wd, c = x.shape
    kh, kw, _, f = w.shape
    oh, ow = output_size.py_func(h + pads[0] + pads[1], wd + pads[2] + pads[3], (kh, kw), stride)
    if dy.shape != (n, oh, ow, f):
        raise ValueError(
            f"dy must have shape {(n, oh, ow, f)} (the forward output for x {x.shape}, w {w.shape}); got {dy.shape}"
        )
    layer = ((h, wd, c), (kh, kw), f, stride, pads)
    algo = _algorithm_code(algorithm, n, layer)
    dx, dw, db = np.empty_like(x), np.empty_like(w), np.empty(f, dtype=x.dtype)
    _run(False, algo, (x, w, dy, dw, db, dx), ((kh, kw), stride, pads), layer)
    return dx, dw, db


# The public kernels (kernels/__init__.py exports them; the registry pairs each with its twin).
__all__ = ["conv2d_backward", "conv2d_forward"]
