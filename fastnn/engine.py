"""The compiled training loop: whole epochs of a built-in network in one jitted call.

A network of built-in layers is encoded as a small program (see :mod:`fastnn.plan`): one row of
integers per layer (``OP_*`` code, parameter offsets, dimensions), all parameters in one flat
array, all activations of a batch in one flat workspace. :func:`run_epochs` interprets that
program for every batch of every epoch -- forward, loss, backward, optimizer step -- calling the
very jitted functions the layers call one at a time, so both paths compute the same numbers.
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np

from kernels import _scalar
from kernels import activations as KA
from kernels import conv as KC
from kernels import dense as KD
from kernels import losses as KL
from kernels import optim as KO
from kernels import pool as KP
from kernels.config import jit

# Layer programs: one row per layer.
OP_DENSE, OP_CONV, OP_MAXPOOL, OP_RESHAPE, OP_TANH, OP_SIGMOID, OP_RELU, OP_LEAKY, OP_SOFTMAX = range(1, 10)
# Row fields.
F_CODE, F_PW, F_PB, F_D0, F_D1, F_D2, F_D3, F_D4, F_D5, F_NEED_DX = range(10)
ROW = 10
# Losses, accuracy kinds, optimizers.
LOSS_MSE, LOSS_BCE, LOSS_SOFTMAX_CE = range(3)
ACC_NONE, ACC_BINARY, ACC_CATEGORICAL = range(3)
OPT_SGD, OPT_MOMENTUM, OPT_RMSPROP, OPT_ADAM = range(4)

# What the loop works on, in named groups (numba passes namedtuples of arrays through as they are).
# The training set: samples (n, features), targets (n, outputs), class labels (n,).
Data = namedtuple("Data", ["x", "y", "labels"])
# The network: one row per layer (ROW fields), leaky-ReLU slopes, each activation slot's offset in
# the workspace (per batch) and its size per sample.
Program = namedtuple("Program", ["ops", "alphas", "offs", "sizes"])
# Flat parameters, their gradients, the optimizer's two state arrays and (lr, a, b, eps).
State = namedtuple("State", ["params", "grads", "s1", "s2", "hyper"])
# Workspaces for one batch: activations, their gradients, max-pool argmax, the batch's targets and labels.
Work = namedtuple("Work", ["acts", "dacts", "iwork", "y_batch", "labels_batch"])
# How to train: batch size, LOSS_*, ACC_*, OPT_* and the clip of binary cross-entropy.
Rules = namedtuple("Rules", ["batch_size", "loss_kind", "acc_kind", "opt_kind", "bce_eps"])
# Per epoch: mean loss and correct count; status (epoch, batch, 0 loss / 1 gradient) when a
# non-finite value stopped training, else -1s.
Log = namedtuple("Log", ["losses", "corrects", "status"])


# -- Flat-index versions of the small dense and elementwise kernels --------------------------------
# Per-sample networks spend their time in tiny layers, where creating array views costs more than
# the arithmetic. These loops index the flat buffers directly; they are used up to ``FLAT_MAX``
# elements / multiply-adds. Beyond that the view-based kernels win: loops over views of distinct
# arrays vectorise, while flat offsets carry a negative-index check that stops LLVM vectorising.
# Each performs exactly the operations of its array twin, in the same order and with the same
# floating-point flags (FMA contraction only where the twin has it), so both paths round
# identically -- tests/test_compiled.py checks it.


FLAT_MAX = 256


@jit(contract=True)
def _dense_forward_flat(acts, xo, yo, params, wo, bo, nb, n_in, n_out):
    # = kernels.dense._matmul_loops_into(x, w, y) then + b
    for r in range(nb):
        yr, xr = yo + r * n_out, xo + r * n_in
        for j in range(n_out):
            acts[yr + j] = 0.0
        for p in range(n_in):
            a = acts[xr + p]
            wp = wo + p * n_out
            for j in range(n_out):
                acts[yr + j] += a * params[wp + j]
        for j in range(n_out):
            acts[yr + j] += params[bo + j]


@jit(contract=True)
def _dense_backward_flat(acts, dacts, xo, yo, params, grads, wo, bo, nb, n_in, n_out, need_dx):
    # dw = x.T @ dy (_matmul_loops_into(x.T, dy, dw)), db = column sums, dx = dy @ w.T
    for i in range(n_in):
        gi = wo + i * n_out
        for j in range(n_out):
            grads[gi + j] = 0.0
        for p in range(nb):
            a = acts[xo + p * n_in + i]
            dp = yo + p * n_out
            for j in range(n_out):
                grads[gi + j] += a * dacts[dp + j]
    _column_sums_flat(dacts, yo, grads, bo, nb, n_out)
    if need_dx:
        for r in range(nb):
            xr, dr = xo + r * n_in, yo + r * n_out
            for j in range(n_in):
                dacts[xr + j] = 0.0
            for p in range(n_out):
                a = dacts[dr + p]
                for j in range(n_in):
                    dacts[xr + j] += a * params[wo + j * n_out + p]


@jit
def _column_sums_flat(dacts, yo, grads, bo, nb, n_out):
    for j in range(n_out):
        grads[bo + j] = 0.0
    for r in range(nb):
        for j in range(n_out):
            grads[bo + j] += dacts[yo + r * n_out + j]


@jit
def _activation_forward_flat(code, alpha, acts, xo, yo, count):
    dt = acts.dtype.type
    if code == OP_TANH:
        for k in range(count):
            acts[yo + k] = _scalar.tanh(acts[xo + k])
    elif code == OP_SIGMOID:
        for k in range(count):
            acts[yo + k] = _scalar.sigmoid(acts[xo + k])
    elif code == OP_RELU:
        zero = dt(0)
        for k in range(count):
            v = acts[xo + k]
            acts[yo + k] = v if not v <= zero else zero
    elif code == OP_LEAKY:
        a = dt(alpha)
        for k in range(count):
            v = acts[xo + k]
            acts[yo + k] = v if not v <= 0 else v * a
    else:  # OP_RESHAPE
        for k in range(count):
            acts[yo + k] = acts[xo + k]


@jit
def _activation_backward_flat(code, alpha, acts, dacts, xo, yo, count):
    dt = acts.dtype.type
    one = dt(1)
    if code == OP_TANH:
        for k in range(count):
            y = acts[yo + k]
            dacts[xo + k] = dacts[yo + k] * (one - y * y)
    elif code == OP_SIGMOID:
        for k in range(count):
            y = acts[yo + k]
            dacts[xo + k] = dacts[yo + k] * y * (one - y)
    elif code == OP_RELU or code == OP_LEAKY:
        a = dt(0) if code == OP_RELU else dt(alpha)
        for k in range(count):
            g = dacts[yo + k]
            dacts[xo + k] = g if acts[yo + k] > 0 else g * a
    else:  # OP_RESHAPE
        for k in range(count):
            dacts[xo + k] = dacts[yo + k]


@jit(inline=True)
def _forward(program, params, work, nb, n_ops):
    ops, alphas, offs, sizes = program.ops, program.alphas, program.offs, program.sizes
    acts, iwork = work.acts, work.iwork
    for i in range(n_ops):
        code = ops[i, F_CODE]
        if code == OP_DENSE and nb * ops[i, F_D0] * ops[i, F_D1] <= FLAT_MAX:
            _dense_forward_flat(
                acts, offs[i], offs[i + 1], params, ops[i, F_PW], ops[i, F_PB], nb, ops[i, F_D0], ops[i, F_D1]
            )
            continue
        if code in (OP_TANH, OP_SIGMOID, OP_RELU, OP_LEAKY, OP_RESHAPE) and nb * sizes[i] <= FLAT_MAX:
            _activation_forward_flat(code, alphas[i], acts, offs[i], offs[i + 1], nb * sizes[i])
            continue
        x = acts[offs[i] : offs[i] + nb * sizes[i]]
        y = acts[offs[i + 1] : offs[i + 1] + nb * sizes[i + 1]]
        if code == OP_DENSE:
            n_in, n_out = ops[i, F_D0], ops[i, F_D1]
            w = params[ops[i, F_PW] : ops[i, F_PW] + n_in * n_out].reshape(n_in, n_out)
            b = params[ops[i, F_PB] : ops[i, F_PB] + n_out]
            KD._dense_forward_into(x.reshape(nb, n_in), w, b, y.reshape(nb, n_out))
        elif code == OP_CONV:
            h, wd, c, kh, kw, f = ops[i, F_D0], ops[i, F_D1], ops[i, F_D2], ops[i, F_D3], ops[i, F_D4], ops[i, F_D5]
            w = params[ops[i, F_PW] : ops[i, F_PW] + kh * kw * c * f].reshape(kh, kw, c, f)
            b = params[ops[i, F_PB] : ops[i, F_PB] + f]
            xi = x.reshape(nb, h, wd, c)
            if KC.use_gemm_path(nb, h, wd, c, kh, kw, f):
                y[:] = KC._conv2d_forward_gemm(xi, w, b).reshape(-1)
            else:
                KC._conv2d_forward_serial_into(xi, w, b, y.reshape(nb, h - kh + 1, wd - kw + 1, f))
        elif code == OP_MAXPOOL:
            h, wd, c, size = ops[i, F_D0], ops[i, F_D1], ops[i, F_D2], ops[i, F_D3]
            shape = (nb, h // size, wd // size, c)
            arg = iwork[ops[i, F_PW] : ops[i, F_PW] + y.size].reshape(shape)
            KP._maxpool2d_forward_into(x.reshape(nb, h, wd, c), size, y.reshape(shape), arg)
        elif code == OP_RESHAPE:
            y[:] = x
        elif code == OP_TANH:
            KA._tanh_into(x, y)
        elif code == OP_SIGMOID:
            KA._sigmoid_into(x, y)
        elif code == OP_RELU:
            KA._relu_into(x, y)
        elif code == OP_LEAKY:
            KA._leaky_relu_into(x, x.dtype.type(alphas[i]), y)
        elif code == OP_SOFTMAX:
            width = ops[i, F_D0]
            KA._softmax_into(x.reshape(-1, width), y.reshape(-1, width))


@jit(inline=True)
def _backward(program, state, work, nb, n_ops):
    ops, alphas, offs, sizes = program.ops, program.alphas, program.offs, program.sizes
    params, grads, acts, dacts, iwork = state.params, state.grads, work.acts, work.dacts, work.iwork
    for i in range(n_ops - 1, -1, -1):
        code = ops[i, F_CODE]
        need_dx = ops[i, F_NEED_DX] != 0
        if code == OP_DENSE and nb * ops[i, F_D0] * ops[i, F_D1] <= FLAT_MAX:
            _dense_backward_flat(
                acts,
                dacts,
                offs[i],
                offs[i + 1],
                params,
                grads,
                ops[i, F_PW],
                ops[i, F_PB],
                nb,
                ops[i, F_D0],
                ops[i, F_D1],
                need_dx,
            )
            continue
        if code in (OP_TANH, OP_SIGMOID, OP_RELU, OP_LEAKY, OP_RESHAPE) and nb * sizes[i] <= FLAT_MAX:
            if need_dx:
                _activation_backward_flat(code, alphas[i], acts, dacts, offs[i], offs[i + 1], nb * sizes[i])
            continue
        x = acts[offs[i] : offs[i] + nb * sizes[i]]
        y = acts[offs[i + 1] : offs[i + 1] + nb * sizes[i + 1]]
        dy = dacts[offs[i + 1] : offs[i + 1] + nb * sizes[i + 1]]
        dx = dacts[offs[i] : offs[i] + nb * sizes[i]]
        if code == OP_DENSE:
            n_in, n_out = ops[i, F_D0], ops[i, F_D1]
            pw, pb = ops[i, F_PW], ops[i, F_PB]
            w = params[pw : pw + n_in * n_out].reshape(n_in, n_out)
            d2 = dy.reshape(nb, n_out)
            KD._matmul_into(x.reshape(nb, n_in).T, d2, grads[pw : pw + n_in * n_out].reshape(n_in, n_out))
            KD._column_sums_into(d2, grads[pb : pb + n_out])
            if need_dx:
                KD._matmul_into(d2, w.T, dx.reshape(nb, n_in))
        elif code == OP_CONV:
            h, wd, c, kh, kw, f = ops[i, F_D0], ops[i, F_D1], ops[i, F_D2], ops[i, F_D3], ops[i, F_D4], ops[i, F_D5]
            pw, pb = ops[i, F_PW], ops[i, F_PB]
            w = params[pw : pw + kh * kw * c * f].reshape(kh, kw, c, f)
            xi = x.reshape(nb, h, wd, c)
            d4 = dy.reshape(nb, h - kh + 1, wd - kw + 1, f)
            gw = grads[pw : pw + w.size].reshape(kh, kw, c, f)
            if KC.use_gemm_path(nb, h, wd, c, kh, kw, f):
                gx, gw2, gb = KC._conv2d_backward_gemm(xi, w, d4, need_dx)
                gw[:] = gw2
                grads[pb : pb + f] = gb
                if need_dx:
                    dx[:] = gx.reshape(-1)
            else:
                KC._conv2d_backward_serial_into(xi, w, d4, dx.reshape(nb, h, wd, c), gw, grads[pb : pb + f], need_dx)
        elif not need_dx:
            continue
        elif code == OP_MAXPOOL:
            h, wd, c, size = ops[i, F_D0], ops[i, F_D1], ops[i, F_D2], ops[i, F_D3]
            shape = (nb, h // size, wd // size, c)
            arg = iwork[ops[i, F_PW] : ops[i, F_PW] + dy.size].reshape(shape)
            KP._maxpool2d_backward_into(arg, dy.reshape(shape), wd, dx.reshape(nb, h, wd, c))
        elif code == OP_RESHAPE:
            dx[:] = dy
        elif code == OP_TANH:
            KA._tanh_backward_into(y, dy, dx)
        elif code == OP_SIGMOID:
            KA._sigmoid_backward_into(y, dy, dx)
        elif code == OP_RELU:
            KA._leaky_relu_backward_into(y, dy, dy.dtype.type(0), dx)
        elif code == OP_LEAKY:
            KA._leaky_relu_backward_into(y, dy, dy.dtype.type(alphas[i]), dx)
        elif code == OP_SOFTMAX:
            width = ops[i, F_D0]
            KA._softmax_backward_into(y.reshape(-1, width), dy.reshape(-1, width), dx.reshape(-1, width))


@jit
def _optimizer_step(kind, state, t):
    """One step on the flat arrays; hyper = (lr, a, b, eps) with a, b the kind's coefficients."""
    params, grads, s1, s2, hyper = state.params, state.grads, state.s1, state.s2, state.hyper
    c = params.dtype.type
    lr, a, b, eps = hyper[0], hyper[1], hyper[2], hyper[3]
    if kind == OPT_SGD:
        KO._sgd(params, grads, c(lr))
    elif kind == OPT_MOMENTUM:
        KO._momentum(params, grads, s1, c(lr), c(a))
    elif kind == OPT_RMSPROP:
        KO._rmsprop(params, grads, s1, c(lr), c(a), c(1.0 - a), c(eps))
    else:
        c1 = 1.0 - a ** np.float64(t)
        c2 = 1.0 - b ** np.float64(t)
        KO._adam(params, grads, s1, s2, c(lr), c(a), c(1.0 - a), c(b), c(1.0 - b), c(c1), c(c2), c(eps))


@jit
def _count_correct(kind, acts, o_off, y_flat, labels, rows, n_out):
    """Samples classified right: argmax against labels, or every output on the right side of 0.5."""
    correct = 0.0
    for r in range(rows):
        o = o_off + r * n_out
        if kind == ACC_CATEGORICAL:
            best = 0
            for k in range(1, n_out):
                if acts[o + k] > acts[o + best]:
                    best = k
            correct += 1.0 if best == labels[r] else 0.0
        else:
            ok = True
            for k in range(n_out):
                ok = ok and ((acts[o + k] > 0.5) == (y_flat[r * n_out + k] > 0.5))
            correct += 1.0 if ok else 0.0
    return correct


@jit
def _all_finite(a):
    # Counts instead of returning at the first bad value, so the loop vectorises (x - x is 0 for
    # every finite x, NaN for inf and NaN): ~4x faster on a digits CNN's 3k gradients.
    bad = 0
    for i in range(a.size):
        bad += not ((a[i] - a[i]) == 0)
    return bad == 0


@jit
def _mse_flat(t, acts, o_off, m):
    # = kernels.losses._mse(t[:m], acts[o_off:o_off+m])
    s = 0.0
    for i in range(m):
        d = np.float64(t[i]) - np.float64(acts[o_off + i])
        s += d * d
    return s / m


@jit
def _mse_backward_flat(t, acts, dacts, o_off, m):
    # = kernels.losses._mse_backward_into(t[:m], acts[o_off:o_off+m], dacts[o_off:o_off+m])
    two = acts.dtype.type(2)
    n = acts.dtype.type(m)
    for i in range(m):
        dacts[o_off + i] = two * (acts[o_off + i] - t[i]) / n


@jit(inline=True)
def _batch_gradients(data, idx, program, state, work, rules):
    """Forward, loss and backward for the samples ``idx``; gradients land in ``state.grads``.

    Returns (loss in the network's dtype as float64, correct count, fault) with fault 0 (none),
    1 (non-finite loss: nothing computed past it) or 2 (a non-finite gradient).
    """
    x, y, labels = data.x, data.y, data.labels
    offs, sizes = program.offs, program.sizes
    acts, dacts, y_flat, l_batch = work.acts, work.dacts, work.y_batch, work.labels_batch
    loss_kind, bce_eps = rules.loss_kind, rules.bce_eps
    nb = idx.size
    n_ops = program.ops.shape[0]
    last = n_ops - 1 if loss_kind == LOSS_SOFTMAX_CE else n_ops  # the fused loss replaces softmax
    n_out = sizes[last]
    ny = y.shape[1]
    for r in range(nb):
        src = idx[r]
        for k in range(sizes[0]):
            acts[offs[0] + r * sizes[0] + k] = x[src, k]
        for k in range(ny):
            y_flat[r * ny + k] = y[src, k]
        l_batch[r] = labels[src]
    _forward(program, state.params, work, nb, last)
    o_off, m = offs[last], nb * n_out
    if loss_kind == LOSS_MSE:
        loss = _mse_flat(y_flat, acts, o_off, m)
        _mse_backward_flat(y_flat, acts, dacts, o_off, m)
    elif loss_kind == LOSS_BCE:
        loss = KL._bce(y_flat[:m], acts[o_off : o_off + m], bce_eps)
        KL._bce_backward_into(y_flat[:m], acts[o_off : o_off + m], bce_eps, dacts[o_off : o_off + m])
    else:
        logits = acts[o_off : o_off + m].reshape(nb, n_out)
        loss = KL._softmax_cross_entropy_into(logits, l_batch[:nb], dacts[o_off : o_off + m].reshape(nb, n_out))
    loss = np.float64(state.params.dtype.type(loss))  # the layer path sees the loss in the network's dtype
    if not np.isfinite(loss):
        return loss, 0.0, 1
    correct = 0.0
    if rules.acc_kind != ACC_NONE:
        correct = _count_correct(rules.acc_kind, acts, o_off, y_flat, l_batch, nb, n_out)
    _backward(program, state, work, nb, last)
    if not _all_finite(state.grads):  # an inf input can give a finite loss but inf/NaN gradients
        return loss, correct, 2
    return loss, correct, 0


@jit
def batch_gradients(data, idx, program, state, work, rules):
    """One batch's gradients without an update (for gradient hooks such as an MPI allreduce)."""
    return _batch_gradients(data, idx, program, state, work, rules)


@jit
def apply_step(state, opt_kind, t):
    """The optimizer update for step ``t`` on the flat arrays."""
    _optimizer_step(opt_kind, state, t)


@jit
def run_epochs(data, orders, program, state, work, rules, t0, log):
    """Train ``log.losses.size`` epochs; the sample order of epoch e is ``orders[e]``, or ``orders[0]``
    for every epoch when ``orders`` has one row.

    Fills ``log.losses[e]`` (mean over samples), ``log.corrects[e]`` and returns the optimizer step
    count. A non-finite loss or gradient stops before that batch's update and sets ``log.status``
    to (epoch, batch, 0 for the loss / 1 for a gradient).
    """
    n = data.x.shape[0]
    t = t0
    batch_size = rules.batch_size
    for e in range(log.losses.size):
        order = orders[e] if orders.shape[0] > 1 else orders[0]
        total = 0.0
        correct = 0.0
        batch = 0
        for start in range(0, n, batch_size):
            idx = order[start : min(start + batch_size, n)]
            loss, right, fault = _batch_gradients(data, idx, program, state, work, rules)
            if fault:
                log.status[0] = e
                log.status[1] = batch
                log.status[2] = fault - 1
                return t
            total += loss * idx.size
            correct += right
            t += 1
            _optimizer_step(rules.opt_kind, state, t)
            batch += 1
        log.losses[e] = total / n
        log.corrects[e] = correct
    return t
