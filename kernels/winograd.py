"""Winograd F(4x4, 3x3): the pieces of kernels.conv's WINOGRAD algorithm for stride-1 3x3 layers.

Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks" (2016). Each 4x4 output tile is
``A^T [(G g G^T) * (B^T d B)] A`` for the 6x6 input tile d and the 3x3 filter g: 36 multiplies per
(channel, filter) pair where direct convolution takes 144. Across a group of tiles the 36 products
are 36 matrix products, ``M[k] (tiles, F) = V[k] (tiles, C) @ U[k] (C, F)``, given to BLAS. (F(2x2,
3x3), 16 multiplies for 36, came first: F(4x4)'s products take 0.56x the time and its transforms no
longer, for 2-3x F(2x2)'s rounding error -- measured in docs/performance.md.)

The backward pass is the adjoint of each step: ``dM = A dY A^T`` per tile, then ``dU[k] = V[k]^T
@ dM[k]`` (the weight gradient is ``G^T dU G``) and ``dV[k] = dM[k] @ U[k]^T`` (the input gradient
is ``B dV B^T``, added over overlapping tiles).

Layouts as in kernels.conv: x (N, H, W, C), w (3, 3, C, F), y (N, OH, OW, F); an image's tiles
row-major, ``tile_grid`` = (ceil(OH/4), ceil(OW/4)); V (36, T, C), M (36, T, F), U (36, C, F), with
index k = 6*row + column of the 6x6 transform. Tiles reaching past the image read zeros (the
padding, and the rows and columns past an output size that 4 does not divide); outputs past OH x
OW are dropped.

Every transform runs one row of tiles at a time in two passes (along the tile rows, then along
each tile's columns) through small buffers, and every inner loop writes one contiguous run: LLVM
vectorises it. (With one loop writing 16 runs, an F(2x2) ran 5-15x slower: the arrays might alias.)
"""

from __future__ import annotations

import numpy as np

from . import _borrow
from .config import jit
from .dense import add_column_sums

# Tiles per group: a group's V and M (36 x tiles x (C + F) floats) stay near the core's L2 and its 36
# products are still long enough for BLAS. 128 measured faster than 256 at one thread and two (AMD
# EPYC, 1 MB L2 a core: the 32x32x3 batch-norm CNN's epoch 1.89 -> 1.65 s on one thread, 1.21 ->
# 1.13 s on two; W1 2.16 -> 1.93 s, 1.49 -> 1.41 s).
GROUP_TILES = 128
# A batch splits into at least this many groups when it has the images (see images_per_group): 4
# left two threads one group each of 16x16 and 8x8 layers' batches, and no speed-up.
MIN_GROUPS = 8
# ... but a group keeps at least this many tiles: small outputs (one tile per 4x4 image) otherwise
# made 8-tile groups whose 36 products of 8 rows ran BLAS at a fraction of its speed (64 images
# 4x4x128 -> 128, forward + backward, one thread: 8.7 ms, PyTorch 7.5).
MIN_GROUP_TILES = 32

# Lavin & Gray's F(4x4, 3x3), points 0, 1, -1, 2, -2: G (6x3) here; B^T (6x6) and A^T (4x6) are
# written out in _bt_rows and _at_rows.
_G = np.array(
    [
        [1 / 4, 0, 0],
        [-1 / 6, -1 / 6, -1 / 6],
        [-1 / 6, 1 / 6, -1 / 6],
        [1 / 24, 1 / 12, 1 / 6],
        [1 / 24, -1 / 12, 1 / 6],
        [0, 0, 1],
    ],
    dtype=np.float64,
)


@jit
def tile_grid(oh, ow):
    """(tile rows, tile columns) covering an OH x OW output with 4x4 tiles."""
    return (oh + 3) // 4, (ow + 3) // 4


@jit
def filter_transform(w, u):
    """u (36, C, F) = G g G^T for every (c, f) of w (3, 3, C, F). (C*F small products: cheap.)"""
    g, a = _G.astype(w.dtype), 6
    u[:] = 0
    for r in range(a):
        for col in range(a):
            ur = u[a * r + col]
            for p in range(3):
                for q in range(3):
                    coef = g[r, p] * g[col, q]
                    if coef != 0:
                        wpq = w[p, q]
                        for ch in range(w.shape[2]):
                            for f in range(w.shape[3]):
                                ur[ch, f] += coef * wpq[ch, f]


@jit
def filter_gradient(du, dw):
    """dw (3, 3, C, F) = G^T dU G for every (c, f): the adjoint of :func:`filter_transform`."""
    g, a = _G.astype(dw.dtype), 6
    dw[:] = 0
    for p in range(3):
        for q in range(3):
            dwpq = dw[p, q]
            for r in range(a):
                for col in range(a):
                    coef = g[r, p] * g[col, q]
                    if coef != 0:
                        dur = du[a * r + col]
                        for ch in range(dw.shape[2]):
                            for f in range(dw.shape[3]):
                                dwpq[ch, f] += coef * dur[ch, f]


@jit
def _phase_rows(src, first_row, first_col, rows):
    """rows (R, K, TW, C)[i, k, j] = pixel (first_row + i, first_col + 4*j + k) of one image src (H,
    W, C), zeros outside it: the K columns of each tile of a row of tiles, column k of every tile in
    one run (so the transforms' loops run over whole rows of tiles, not a tile's C channels)."""
    h, w, c = src.shape
    n_rows, n_k, tw = rows.shape[0], rows.shape[1], rows.shape[2]
    for i in range(n_rows):
        r = first_row + i
        for k in range(n_k):
            for j in range(tw):
                dst = rows[i, k, j]
                col = first_col + 4 * j + k
                if r < 0 or r >= h or col < 0 or col >= w:
                    for q in range(c):
                        dst[q] = 0
                else:
                    line = src[r, col]
                    for q in range(c):
                        dst[q] = line[q]


# The four combinations of F(4x4, 3x3), each over n values of six (or four) runs of ``src`` that
# start at ``so`` and lie ``ss`` apart, into six (or four) runs of ``dst`` at ``do``, ``ds`` apart:
# one store stream per loop. Through slices, not offsets: indexing ``src[so + q]`` left the loops
# 8x slower (numba's negative-index wraparound defeats LLVM's vectoriser). Grouped to save
# multiplies; every call groups alike, so a step rounds the same wherever it runs.


@jit
def _runs(a, first, step, n):
    """Six runs of n values of a, ``step`` apart from ``first`` (runs past a's end come out short:
    the four-run combinations never use them). Borrowed views (kernels._borrow), for the caller's
    use while ``a`` lives: counting references to a's twelve views took 24 atomic operations a call,
    ~7,000 calls a batch of the 32x32x3 batch-norm CNN."""
    a = _borrow.borrowed(a)
    return (
        a[first : first + n],
        a[first + step : first + step + n],
        a[first + 2 * step : first + 2 * step + n],
        a[first + 3 * step : first + 3 * step + n],
        a[first + 4 * step : first + 4 * step + n],
        a[first + 5 * step : first + 5 * step + n],
    )


@jit
def _bt_rows(src, so, ss, dst, do, ds, n):
    """dst_k = (B^T s)_k, k = 0..5: the input transform along one axis."""
    two, four, five = dst.dtype.type(2), dst.dtype.type(4), dst.dtype.type(5)
    s0, s1, s2, s3, s4, s5 = _runs(src, so, ss, n)
    d0, d1, d2, d3, d4, d5 = _runs(dst, do, ds, n)
    for q in range(n):
        d0[q] = four * s0[q] - five * s2[q] + s4[q]
    for q in range(n):
        d1[q] = s3[q] + s4[q] - four * (s1[q] + s2[q])
    for q in range(n):
        d2[q] = s4[q] - s3[q] + four * (s1[q] - s2[q])
    for q in range(n):
        d3[q] = s4[q] - s2[q] + two * (s3[q] - s1[q])
    for q in range(n):
        d4[q] = s4[q] - s2[q] - two * (s3[q] - s1[q])
    for q in range(n):
        d5[q] = four * s1[q] - five * s3[q] + s5[q]


@jit
def _b_rows(src, so, ss, dst, do, ds, n):
    """dst_k = (B s)_k, k = 0..5: the adjoint of :func:`_bt_rows`."""
    two, four, five = dst.dtype.type(2), dst.dtype.type(4), dst.dtype.type(5)
    s0, s1, s2, s3, s4, s5 = _runs(src, so, ss, n)
    d0, d1, d2, d3, d4, d5 = _runs(dst, do, ds, n)
    for q in range(n):
        d0[q] = four * s0[q]
    for q in range(n):
        d1[q] = four * (s2[q] - s1[q] + s5[q]) + two * (s4[q] - s3[q])
    for q in range(n):
        d2[q] = -(five * s0[q] + four * (s1[q] + s2[q]) + s3[q] + s4[q])
    for q in range(n):
        d3[q] = s1[q] - s2[q] + two * (s3[q] - s4[q]) - five * s5[q]
    for q in range(n):
        d4[q] = s0[q] + s1[q] + s2[q] + s3[q] + s4[q]
    for q in range(n):
        d5[q] = s5[q]


@jit
def _at_rows(src, so, ss, dst, do, ds, n):
    """dst_k = (A^T s)_k, k = 0..3: the output transform along one axis."""
    two, four, eight = dst.dtype.type(2), dst.dtype.type(4), dst.dtype.type(8)
    s0, s1, s2, s3, s4, s5 = _runs(src, so, ss, n)
    d0, d1, d2, d3, _, _ = _runs(dst, do, ds, n)
    for q in range(n):
        d0[q] = s0[q] + s1[q] + s2[q] + s3[q] + s4[q]
    for q in range(n):
        d1[q] = s1[q] - s2[q] + two * (s3[q] - s4[q])
    for q in range(n):
        d2[q] = s1[q] + s2[q] + four * (s3[q] + s4[q])
    for q in range(n):
        d3[q] = s1[q] - s2[q] + eight * (s3[q] - s4[q]) + s5[q]


@jit
def _a_rows(src, so, ss, dst, do, ds, n):
    """dst_k = (A s)_k, k = 0..5, from four runs: the adjoint of :func:`_at_rows`."""
    two, four = dst.dtype.type(2), dst.dtype.type(4)
    s0, s1, s2, s3, _, _ = _runs(src, so, ss, n)
    d0, d1, d2, d3, d4, d5 = _runs(dst, do, ds, n)
    for q in range(n):
        d0[q] = s0[q]
    for q in range(n):
        d1[q] = s0[q] + s2[q] + (s1[q] + s3[q])
    for q in range(n):
        d2[q] = s0[q] + s2[q] - (s1[q] + s3[q])
    for q in range(n):
        d3[q] = s0[q] + four * s2[q] + two * (s1[q] + four * s3[q])
    for q in range(n):
        d4[q] = s0[q] + four * s2[q] - two * (s1[q] + four * s3[q])
    for q in range(n):
        d5[q] = s3[q]


@jit
def input_transform(x, image_range, pads, out_size, v):
    """v (36, T, C) = B^T d B for every 6x6 tile d of images first..stop-1 (``image_range``) of x
    (N, H, W, C), ``pads`` = (top, bottom, left, right) read as zeros."""
    first, stop = image_range
    c, tiles = x.shape[3], v.shape[1]
    th, tw = tile_grid(out_size[0], out_size[1])
    n = tw * c
    rows = np.empty((6, 6, tw, c), dtype=x.dtype)
    p = np.empty(36 * n, dtype=x.dtype)
    flat_rows, flat_v = rows.reshape(36 * n), v.reshape(v.size)
    for s in range(first, stop):
        for ti in range(th):
            _phase_rows(x[s], 4 * ti - pads[0], -pads[2], rows)
            _bt_rows(flat_rows, 0, 6 * n, p, 0, 6 * n, 6 * n)  # B^T d along the tile rows
            base = ((s - first) * th + ti) * c * tw
            for r in range(6):  # (B^T d) B along the tiles' columns
                _bt_rows(p, r * 6 * n, n, flat_v, 6 * r * tiles * c + base, tiles * c, n)


@jit
def output_transform(mm, b, image_range, y):
    """y[first:stop] (OH, OW, F) = A^T M A + b for every tile of images first..stop-1; mm (36, T, F)."""
    first, stop = image_range
    y = _borrow.borrowed(y)  # its row and pixel views below count no references (see _runs)
    oh, ow, f = y.shape[1], y.shape[2], y.shape[3]
    th, tw = tile_grid(oh, ow)
    n, tiles = tw * f, mm.shape[1]
    q = np.empty(4 * 6 * n, dtype=y.dtype)  # A^T M for one row of tiles: (4, 6, TW, F)
    out = np.empty((4, tw, f), dtype=y.dtype)  # one output row's (A^T M A): column jj of tile j at [jj, j]
    flat, flat_out = mm.reshape(mm.size), out.reshape(4 * n)
    for s in range(first, stop):
        for ti in range(th):
            lo = ((s - first) * th + ti) * n
            for col in range(6):  # A^T M along the transform's rows
                _at_rows(flat, col * tiles * f + lo, 6 * tiles * f, q, col * n, 6 * n, n)
            for i in range(min(4, oh - 4 * ti)):  # (A^T M) A along the columns, plus the bias
                _at_rows(q, i * 6 * n, n, flat_out, 0, n, n)
                line = y[s, 4 * ti + i]
                for j in range(tw):
                    for jj in range(min(4, ow - 4 * j)):
                        dst, src = line[4 * j + jj], out[jj, j]
                        for e in range(f):
                            dst[e] = src[e] + b[e]


@jit
def gradient_transform(dy, image_range, dm):
    """dm (36, T, F) = A dY A^T for every 4x4 tile dY of dy[first:stop] (N, OH, OW, F), the adjoint
    of :func:`output_transform` (values past OH x OW are zeros)."""
    first, stop = image_range
    oh, ow, f = dy.shape[1], dy.shape[2], dy.shape[3]
    th, tw = tile_grid(oh, ow)
    n, tiles = tw * f, dm.shape[1]
    rows = np.empty((4, 4, tw, f), dtype=dy.dtype)
    sa = np.empty(6 * 4 * n, dtype=dy.dtype)
    flat_rows, flat_dm = rows.reshape(16 * n), dm.reshape(dm.size)
    for s in range(first, stop):
        for ti in range(th):
            _phase_rows(dy[s], 4 * ti, 0, rows)
            _a_rows(flat_rows, 0, 4 * n, sa, 0, 4 * n, 4 * n)  # A dY along the rows
            base = ((s - first) * th + ti) * n
            for r in range(6):  # (A dY) A^T along the tiles' columns
                _a_rows(sa, r * 4 * n, n, flat_dm, 6 * r * tiles * f + base, tiles * f, n)


@jit
def input_adjoint(dv, image_range, pads, dx):
    """dx[first:stop] (H, W, C) = the sum over tiles of B dV B^T at each tile's place (positions in
    the padding dropped), overwritten: the adjoint of :func:`input_transform`."""
    first, stop = image_range
    dx = _borrow.borrowed(dx)  # as in output_transform
    h, wd, c = dx.shape[1], dx.shape[2], dx.shape[3]
    th, tw = tile_grid(h + pads[0] + pads[1] - 2, wd + pads[2] + pads[3] - 2)
    n, tiles = tw * c, dv.shape[1]
    e = np.empty(6 * 6 * n, dtype=dx.dtype)  # B dV for one row of tiles: (6, 6, TW, C)
    acc = np.empty((6, 6, tw, c), dtype=dx.dtype)  # (B dV) B^T: column k of tile j at [i, k, j]
    flat, flat_acc = dv.reshape(dv.size), acc.reshape(36 * n)
    for s in range(first, stop):
        dx[s] = 0
        for ti in range(th):
            lo = ((s - first) * th + ti) * n
            for col in range(6):  # B dV along the transform's rows
                _b_rows(flat, col * tiles * c + lo, 6 * tiles * c, e, col * n, 6 * n, n)
            for i in range(6):  # (B dV) B^T along the columns
                _b_rows(e, i * 6 * n, n, flat_acc, i * 6 * n, n, n)
            for i in range(6):  # each tile added at its place
                r = 4 * ti - pads[0] + i
                if r < 0 or r >= h:
                    continue
                line = dx[s, r]
                for k in range(6):
                    for j in range(tw):
                        col = 4 * j + k - pads[2]
                        if 0 <= col < wd:
                            dst, src = line[col], acc[i, k, j]
                            for q in range(c):
                                dst[q] += src[q]


# --------------------------------------------------------------------------- groups and scratch


@jit
def scratch_dims(layer):
    """(tiles per group, images per group, C, F) of ``layer`` (kernels.conv's tuple)."""
    (h, wd, c), (kh, kw), f, (sh, sw), (top, bottom, left, right) = layer
    oh, ow = (h + top + bottom - kh) // sh + 1, (wd + left + right - kw) // sw + 1
    th, tw = tile_grid(oh, ow)
    per_group = max(1, GROUP_TILES // (th * tw))
    return per_group * th * tw, per_group, c, f


@jit
def images_per_group(layer, n_img):
    """Images per group for a batch of ``n_img``: at most scratch_dims' count, and few enough that the
    batch makes MIN_GROUPS groups when it has the images (so small images still give several threads
    work), unless that leaves fewer than MIN_GROUP_TILES tiles a group. Depends on the shapes only,
    never on the threads: the same groups, the same numbers."""
    tiles, per = scratch_dims(layer)[:2]
    enough = (MIN_GROUP_TILES * per + tiles - 1) // tiles  # images of MIN_GROUP_TILES tiles
    return max(1, min(per, max((n_img + MIN_GROUPS - 1) // MIN_GROUPS, enough)))


@jit
def part_views(space, layer):
    """(v (36, T, C), m (36, T, F), dv (36, T, C), du_one (36, C, F)) from ``space``: the floats
    kernels.conv.scratch_sizes counts per part for WINOGRAD."""
    tiles, _, c, f = scratch_dims(layer)
    a, b = 36 * tiles * c, 36 * tiles * f
    v = space[:a].reshape(36, tiles, c)
    m = space[a : a + b].reshape(36, tiles, f)
    dv = space[a + b : 2 * a + b].reshape(36, tiles, c)
    o = 2 * a + b
    return v, m, dv, space[o : o + 36 * c * f].reshape(36, c, f)


@jit
def forward_groups(x, u, b, pads, y, space, group_range):
    """y of the images in groups g0..g1-1 (``group_range``): per group the input transform, the 36
    products with u (36, C, F), the output transform."""
    n_img = x.shape[0]
    layer = ((x.shape[1], x.shape[2], x.shape[3]), (3, 3), y.shape[3], (1, 1), pads)
    v, m, _, _ = part_views(space, layer)
    per_group = images_per_group(layer, n_img)
    th, tw = tile_grid(y.shape[1], y.shape[2])
    for g in range(group_range[0], group_range[1]):
        images = (g * per_group, min(g * per_group + per_group, n_img))
        tiles = (images[1] - images[0]) * th * tw
        input_transform(x, images, pads, (y.shape[1], y.shape[2]), v)
        for k in range(36):
            np.dot(v[k][:tiles], u[k], m[k][:tiles])
        output_transform(m, b, images, y)


@jit
def backward_images(x, u, dy, image_range, pads, space, outs, need_dx):
    """The gradients of images first..stop-1 (``image_range``), a group at a time: ``outs`` = (du
    (36, C, F), db (F,), dx (N, H, W, C)); du and db overwritten with these images' weight-gradient
    products and dy's sum, their dx overwritten when ``need_dx``."""
    du, db, dx = outs
    first, stop = image_range
    layer = ((x.shape[1], x.shape[2], x.shape[3]), (3, 3), dy.shape[3], (1, 1), pads)
    v, dm, dv, du_one = part_views(space, layer)
    per_group = scratch_dims(layer)[1]
    th, tw = tile_grid(dy.shape[1], dy.shape[2])
    db64 = np.zeros(db.size, dtype=np.float64)  # bias sums in float64 (see dense.add_column_sums)
    f = dy.shape[3]
    if stop <= first:  # no images: nothing below writes du
        du[:] = 0
    for g0 in range(first, stop, per_group):
        images = (g0, min(g0 + per_group, stop))
        tiles = (images[1] - images[0]) * th * tw
        input_transform(x, images, pads, (dy.shape[1], dy.shape[2]), v)
        gradient_transform(dy, images, dm)
        # The first group's products go straight into du (a pass over 36*C*F floats fewer each).
        into = du if g0 == first else du_one
        for k in range(36):
            np.dot(v[k][:tiles].T, dm[k][:tiles], into[k])
        if g0 != first:
            du += du_one
        pixels = dy.shape[1] * dy.shape[2]
        add_column_sums(dy[images[0] : images[1]].reshape((images[1] - images[0]) * pixels, f), db64)
        if not need_dx:
            continue
        for k in range(36):
            np.dot(dm[k][:tiles], u[k].T, dv[k][:tiles])
        input_adjoint(dv, images, pads, dx)
    for q in range(f):
        db[q] = db64[q]
