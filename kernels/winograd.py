"""Winograd F(2x2, 3x3): the pieces of kernels.conv's WINOGRAD algorithm for stride-1 3x3 layers.

Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks" (2016). Each 2x2 output tile is
``A^T [(G g G^T) * (B^T d B)] A`` for the 4x4 input tile d and the 3x3 filter g: 16 multiplies per
(channel, filter) pair where direct convolution takes 36. Across a group of tiles the 16 products
are 16 matrix products, ``M[k] (tiles, F) = V[k] (tiles, C) @ U[k] (C, F)``, given to BLAS.

The backward pass is the adjoint of each step: ``dM = A dY A^T`` per tile, then ``dU[k] = V[k]^T
@ dM[k]`` (the weight gradient is ``G^T dU G``) and ``dV[k] = dM[k] @ U[k]^T`` (the input gradient
is ``B dV B^T``, added over overlapping tiles). The transforms only add, subtract and halve.

Layouts as in kernels.conv: x (N, H, W, C), w (3, 3, C, F), y (N, OH, OW, F); an image's tiles
row-major, ``tile_grid`` = (ceil(OH/2), ceil(OW/2)); V (16, T, C), M (16, T, F), U (16, C, F), with
index k = 4*row + column of the 4x4 transform. Tiles reaching past the image read zeros (the
padding, and the rows and columns past an odd output size); outputs past OH x OW are dropped.
"""

from __future__ import annotations

import numpy as np

from .config import jit

# Tiles per group: a group's V and M (16 x tiles x (C + F) floats) stay near the core's L2, and its
# 16 products are still long enough for BLAS (W1's second layer: 144 tiles, one image).
GROUP_TILES = 576

# The transforms (Lavin & Gray's F(2x2, 3x3)): input B^T (4x4), filter G (4x3), output A^T (2x4).
_BT = np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]], dtype=np.float64)
_G = np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]], dtype=np.float64)


@jit
def tile_grid(oh, ow):
    """(tile rows, tile columns) covering an OH x OW output with 2x2 tiles."""
    return (oh + 1) // 2, (ow + 1) // 2


@jit
def filter_transform(w, u):
    """u (16, C, F) = G g G^T for every (c, f) of w (3, 3, C, F). (C*F small products: cheap.)"""
    u[:] = 0
    for a in range(4):
        for b in range(4):
            for m in range(3):
                for n in range(3):
                    coef = _G[a, m] * _G[b, n]
                    if coef != 0:
                        u[4 * a + b] += coef * w[m, n]


@jit
def filter_gradient(du, dw):
    """dw (3, 3, C, F) = G^T dU G for every (c, f): the adjoint of :func:`filter_transform`."""
    dw[:] = 0
    for m in range(3):
        for n in range(3):
            for a in range(4):
                for b in range(4):
                    coef = _G[a, m] * _G[b, n]
                    if coef != 0:
                        dw[m, n] += coef * du[4 * a + b]


# The four transforms below run one row of tiles at a time, in two passes through small buffers, so
# that every inner loop writes one contiguous run and reads at most four: LLVM then vectorises it
# (with 16 output streams per loop it gave up -- the arrays might alias -- and ran 5-15x slower).


@jit
def _padded_rows(src, first_row, first_col, rows, width):
    """rows (R, width*C): rows first_row.. and columns first_col.. of one image src (H, W, C), zeros
    outside it."""
    h, w, c = src.shape
    flat = src.reshape(h, w * c)
    lo, hi = max(0, -first_col), min(width, w - first_col)  # the columns that lie inside
    for i in range(rows.shape[0]):
        r = first_row + i
        out = rows[i]
        if r < 0 or r >= h or hi <= lo:
            out[:] = 0
            continue
        for q in range(lo * c):
            out[q] = 0
        line = flat[r, (first_col + lo) * c : (first_col + hi) * c]
        dst = out[lo * c : hi * c]
        for q in range(dst.size):
            dst[q] = line[q]
        for q in range(hi * c, width * c):
            out[q] = 0


@jit
def input_transform(x, image_range, pads, out_size, v):
    """v (16, T, C) = B^T d B for every 4x4 tile d of images first..stop-1 (``image_range``) of x
    (N, H, W, C), ``pads`` = (top, bottom, left, right) read as zeros."""
    first, stop = image_range
    c = x.shape[3]
    th, tw = tile_grid(out_size[0], out_size[1])
    width = 2 * tw + 2
    rows = np.empty((4, width * c), dtype=x.dtype)
    p = np.empty((4, width * c), dtype=x.dtype)
    for s in range(first, stop):
        for ti in range(th):
            _padded_rows(x[s], 2 * ti - pads[0], -pads[2], rows, width)
            for q in range(width * c):  # B^T d over the tile rows: x0 - x2, x1 + x2, x2 - x1, x1 - x3
                p[0, q] = rows[0, q] - rows[2, q]
            for q in range(width * c):
                p[1, q] = rows[1, q] + rows[2, q]
            for q in range(width * c):
                p[2, q] = rows[2, q] - rows[1, q]
            for q in range(width * c):
                p[3, q] = rows[1, q] - rows[3, q]
            base = ((s - first) * th + ti) * tw
            for a in range(4):  # (B^T d) B over each tile's four columns, the same combinations
                pa = p[a]
                for j in range(tw):
                    o = 2 * j * c
                    v0, v1, v2, v3 = (
                        v[4 * a, base + j],
                        v[4 * a + 1, base + j],
                        v[4 * a + 2, base + j],
                        v[4 * a + 3, base + j],
                    )
                    for ch in range(c):
                        v0[ch] = pa[o + ch] - pa[o + 2 * c + ch]
                    for ch in range(c):
                        v1[ch] = pa[o + c + ch] + pa[o + 2 * c + ch]
                    for ch in range(c):
                        v2[ch] = pa[o + 2 * c + ch] - pa[o + c + ch]
                    for ch in range(c):
                        v3[ch] = pa[o + c + ch] - pa[o + 3 * c + ch]


@jit
def output_transform(m, b, image_range, y):
    """y[first:stop] (OH, OW, F) = A^T m A + b for every tile of images first..stop-1; m (16, T, F)."""
    first, stop = image_range
    oh, ow, f = y.shape[1], y.shape[2], y.shape[3]
    th, tw = tile_grid(oh, ow)
    q = np.empty((2, 4, tw * f), dtype=y.dtype)
    flat = m.reshape(16, m.shape[1] * f)
    for s in range(first, stop):
        for ti in range(th):
            lo = ((s - first) * th + ti) * tw * f
            for col in range(4):  # A^T m over the transform's rows: m0 + m1 + m2, m1 - m2 - m3
                m0, m1 = flat[col, lo : lo + tw * f], flat[4 + col, lo : lo + tw * f]
                m2, m3 = flat[8 + col, lo : lo + tw * f], flat[12 + col, lo : lo + tw * f]
                q0, q1 = q[0, col], q[1, col]
                for e in range(tw * f):
                    q0[e] = m0[e] + m1[e] + m2[e]
                for e in range(tw * f):
                    q1[e] = m1[e] - m2[e] - m3[e]
            for i in range(2):  # (A^T m) A over the columns: q0 + q1 + q2, q1 - q2 - q3, plus the bias
                r = 2 * ti + i
                if r >= oh:
                    continue
                qa, qb, qc, qd = q[i, 0], q[i, 1], q[i, 2], q[i, 3]
                for j in range(tw):
                    o = j * f
                    out = y[s, r, 2 * j]
                    for e in range(f):
                        out[e] = qa[o + e] + qb[o + e] + qc[o + e] + b[e]
                    if 2 * j + 1 < ow:
                        out = y[s, r, 2 * j + 1]
                        for e in range(f):
                            out[e] = qb[o + e] - qc[o + e] - qd[o + e] + b[e]


@jit
def gradient_transform(dy, image_range, dm):
    """dm (16, T, F) = A dY A^T for every 2x2 tile dY of dy[first:stop] (N, OH, OW, F), the adjoint
    of :func:`output_transform` (values past OH x OW are zeros)."""
    first, stop = image_range
    oh, ow, f = dy.shape[1], dy.shape[2], dy.shape[3]
    th, tw = tile_grid(oh, ow)
    width = 2 * tw
    rows = np.empty((2, width * f), dtype=dy.dtype)
    sa = np.empty((4, width * f), dtype=dy.dtype)
    for s in range(first, stop):
        for ti in range(th):
            _padded_rows(dy[s], 2 * ti, 0, rows, width)
            d0, d1 = rows[0], rows[1]
            for e in range(width * f):  # A dY over the rows: d0, d0 + d1, d0 - d1, -d1
                sa[0, e] = d0[e]
            for e in range(width * f):
                sa[1, e] = d0[e] + d1[e]
            for e in range(width * f):
                sa[2, e] = d0[e] - d1[e]
            for e in range(width * f):
                sa[3, e] = -d1[e]
            base = ((s - first) * th + ti) * tw
            for a in range(4):  # (A dY) A^T over each tile's two columns, the same combinations
                row = sa[a]
                for j in range(tw):
                    o = 2 * j * f
                    g0, g1, g2, g3 = (
                        dm[4 * a, base + j],
                        dm[4 * a + 1, base + j],
                        dm[4 * a + 2, base + j],
                        dm[4 * a + 3, base + j],
                    )
                    for e in range(f):
                        g0[e] = row[o + e]
                    for e in range(f):
                        g1[e] = row[o + e] + row[o + f + e]
                    for e in range(f):
                        g2[e] = row[o + e] - row[o + f + e]
                    for e in range(f):
                        g3[e] = -row[o + f + e]


@jit
def input_adjoint(dv, image_range, pads, dx):
    """dx[first:stop] (H, W, C) = the sum over tiles of B dV B^T at each tile's place (positions in
    the padding dropped), overwritten: the adjoint of :func:`input_transform`."""
    first, stop = image_range
    h, wd, c = dx.shape[1], dx.shape[2], dx.shape[3]
    th, tw = tile_grid(h + pads[0] + pads[1] - 2, wd + pads[2] + pads[3] - 2)
    width = 2 * tw + 2
    e = np.empty((4, 4, tw * c), dtype=dx.dtype)
    acc = np.empty((4, width * c), dtype=dx.dtype)
    flat = dv.reshape(16, dv.shape[1] * c)
    left = pads[2]
    lo_col, hi_col = left, min(width, left + wd)  # the tile columns that lie inside the image
    for s in range(first, stop):
        dx[s] = 0
        for ti in range(th):
            lo = ((s - first) * th + ti) * tw * c
            n = tw * c
            for b in range(4):  # B dV over the transform's rows: v0, v1 - v2 + v3, v1 + v2 - v0, -v3
                v0, v1 = flat[b, lo : lo + n], flat[4 + b, lo : lo + n]
                v2, v3 = flat[8 + b, lo : lo + n], flat[12 + b, lo : lo + n]
                e0, e1, e2, e3 = e[0, b], e[1, b], e[2, b], e[3, b]
                for q in range(n):
                    e0[q] = v0[q]
                for q in range(n):
                    e1[q] = v1[q] - v2[q] + v3[q]
                for q in range(n):
                    e2[q] = v1[q] + v2[q] - v0[q]
                for q in range(n):
                    e3[q] = -v3[q]
            acc[:] = 0
            for i in range(4):  # (B dV) B^T over the columns, each tile added at its place
                a_row = acc[i]
                ea, eb, ec, ed = e[i, 0], e[i, 1], e[i, 2], e[i, 3]
                for j in range(tw):
                    o, t = 2 * j * c, j * c
                    for ch in range(c):
                        a_row[o + ch] += ea[t + ch]
                    for ch in range(c):
                        a_row[o + c + ch] += eb[t + ch] - ec[t + ch] + ed[t + ch]
                    for ch in range(c):
                        a_row[o + 2 * c + ch] += eb[t + ch] + ec[t + ch] - ea[t + ch]
                    for ch in range(c):
                        a_row[o + 3 * c + ch] -= ed[t + ch]
            for i in range(4):
                r = 2 * ti - pads[0] + i
                if r < 0 or r >= h or hi_col <= lo_col:
                    continue
                src = acc[i, lo_col * c : hi_col * c]
                dst = dx[s, r].reshape(wd * c)[(lo_col - left) * c : (hi_col - left) * c]
                for q in range(dst.size):
                    dst[q] += src[q]


# --------------------------------------------------------------------------- groups and scratch


@jit
def scratch_dims(layer):
    """(tiles per group, images per group, C, F) of ``layer`` (kernels.conv's tuple)."""
    (h, wd, c), (kh, kw), f, (sh, sw), (top, bottom, left, right) = layer
    oh, ow = (h + top + bottom - kh) // sh + 1, (wd + left + right - kw) // sw + 1
    th, tw = (oh + 1) // 2, (ow + 1) // 2
    per_group = max(1, GROUP_TILES // (th * tw))
    return per_group * th * tw, per_group, c, f


@jit
def part_views(space, layer):
    """(v (16, T, C), m (16, T, F), dv (16, T, C), du_one (16, C, F)) from ``space``: the floats
    kernels.conv.scratch_sizes counts per part for WINOGRAD."""
    tiles, _, c, f = scratch_dims(layer)
    a, b = 16 * tiles * c, 16 * tiles * f
    v = space[:a].reshape(16, tiles, c)
    m = space[a : a + b].reshape(16, tiles, f)
    dv = space[a + b : 2 * a + b].reshape(16, tiles, c)
    o = 2 * a + b
    return v, m, dv, space[o : o + 16 * c * f].reshape(16, c, f)


@jit
def forward_groups(x, u, b, pads, y, space, group_range):
    """y of the images in groups g0..g1-1 (``group_range``): per group the input transform, the 16
    products with u (16, C, F), the output transform."""
    n_img = x.shape[0]
    layer = ((x.shape[1], x.shape[2], x.shape[3]), (3, 3), y.shape[3], (1, 1), pads)
    v, m, _, _ = part_views(space, layer)
    per_group = scratch_dims(layer)[1]
    th, tw = tile_grid(y.shape[1], y.shape[2])
    for g in range(group_range[0], group_range[1]):
        images = (g * per_group, min(g * per_group + per_group, n_img))
        tiles = (images[1] - images[0]) * th * tw
        input_transform(x, images, pads, (y.shape[1], y.shape[2]), v)
        for k in range(16):
            np.dot(v[k][:tiles], u[k], m[k][:tiles])
        output_transform(m, b, images, y)


@jit
def backward_images(x, u, dy, image_range, pads, space, outs, need_dx):
    """The gradients of images first..stop-1 (``image_range``), a group at a time: ``outs`` = (du
    (16, C, F), db (F,), dx (N, H, W, C)); du and db overwritten with these images' weight-gradient
    products and dy's sum, their dx overwritten when ``need_dx``."""
    du, db, dx = outs
    first, stop = image_range
    layer = ((x.shape[1], x.shape[2], x.shape[3]), (3, 3), dy.shape[3], (1, 1), pads)
    v, dm, dv, du_one = part_views(space, layer)
    per_group = scratch_dims(layer)[1]
    th, tw = tile_grid(dy.shape[1], dy.shape[2])
    du[:] = 0
    db[:] = 0
    for g0 in range(first, stop, per_group):
        images = (g0, min(g0 + per_group, stop))
        tiles = (images[1] - images[0]) * th * tw
        input_transform(x, images, pads, (dy.shape[1], dy.shape[2]), v)
        gradient_transform(dy, images, dm)
        for k in range(16):
            np.dot(v[k][:tiles].T, dm[k][:tiles], du_one[k])
        du += du_one
        for s in range(images[0], images[1]):
            for i in range(dy.shape[1]):
                for j in range(dy.shape[2]):
                    for q in range(dy.shape[3]):
                        db[q] += dy[s, i, j, q]
        if not need_dx:
            continue
        for k in range(16):
            np.dot(dm[k][:tiles], u[k].T, dv[k][:tiles])
        input_adjoint(dv, images, pads, dx)
