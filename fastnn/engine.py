"""The compiled training loop: whole epochs of a built-in network in one jitted call.

A network of built-in layers is encoded as a small program (see :mod:`fastnn.ops.program`): one
row of integers per layer, all parameters in one flat array, all activations of a batch in one
flat workspace. :func:`run_epochs` interprets that program for every batch of every epoch --
forward, loss, backward, optimizer step. Each layer's step lives with its layer in
:mod:`fastnn.ops` and calls the kernels the layer calls, so both paths compute the same numbers.
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np

from kernels import _borrow as KB
from kernels import config
from kernels import losses as KL
from kernels import optim as KO
from kernels.config import jit

from .ops import activation, conv, dense, norm, pool, reshape, split
from .ops.program import F_KIND

IMAGE_KINDS = (conv.KIND, pool.KIND, norm.KIND)

# Losses, accuracy kinds, optimizers.
LOSS_MSE, LOSS_BCE, LOSS_SOFTMAX_CE = range(3)
ACC_NONE, ACC_BINARY, ACC_CATEGORICAL = range(3)
OPT_SGD, OPT_MOMENTUM, OPT_RMSPROP, OPT_ADAM = KO.SGD, KO.MOMENTUM, KO.RMSPROP, KO.ADAM

# What the loop works on, in named groups (numba passes namedtuples of arrays through as they are).
# The training set: samples (n, features), targets (n, outputs), class labels (n,). The network's
# random generator (dropout draws from it) travels beside it as an argument of its own: numba types a
# tuple holding a Generator in Python on every call (36 us), a tuple of arrays alone in C (1 us), the
# Generator alone in 7. Always passed, so networks with and without dropout share one compiled loop.
Data = namedtuple("Data", ["x", "y", "labels"])
# The network: one row per layer (fastnn.ops.program), leaky-ReLU slopes, two more reals per layer
# (batch norm's momentum and eps), each activation slot's offset in the workspace (per batch) and its
# size per sample.
Program = namedtuple("Program", ["ops", "alphas", "reals", "offs", "sizes"])
# Flat parameters, their gradients, the optimizer's two state arrays, (lr, a, b, eps), and the
# buffers that training updates without gradients (batch norm's running statistics).
State = namedtuple("State", ["params", "grads", "s1", "s2", "hyper", "buffers"])
# Workspaces for one batch: activations, their gradients, integer work (max-pool argmax), the
# batch's targets and labels, float scratch (batch norm's batch statistics).
Work = namedtuple("Work", ["acts", "dacts", "iwork", "y_batch", "labels_batch", "fwork"])
# How to train: batch size, LOSS_*, ACC_*, OPT_*, the clip of binary cross-entropy, ``image_threads``:
# None for a network without a layer of an IMAGE_KINDS kind -- steps given None are typed away, so a
# dense network (the tutorials' XOR, MLPs) never compiles the image ops (an XOR script's first run:
# 12 s, not 41) -- else the threads its IM2COL, PLANAR and WINOGRAD convolutions may split a batch
# over (1: this one; see fastnn.ops.conv). One value, not one per kind: every combination would compile its own loop.
# ``outer``: True for plain SGD one sample at a time: each dense layer's weight gradient
# outer(x, dy) is then applied where it is formed, never stored (_outer_sgd_step). ``dense_threads``:
# the threads a dense layer's large products may share their blocks over (kernels.dense; 1: this
# one). BLAS runs at one thread throughout, so no number depends on the thread count.
Rules = namedtuple(
    "Rules", ["batch_size", "loss_kind", "acc_kind", "opt_kind", "bce_eps", "image_threads", "outer", "dense_threads"]
)
# Per epoch: mean loss and correct count; status (epoch, batch, 0 loss / 1 gradient) when a
# non-finite value stopped training, else -1s; steps (1,): the optimizer's step count, before the
# call and after it.
Log = namedtuple("Log", ["losses", "corrects", "status", "steps"])


@jit(inline=True)
def _borrow(program, state, work):
    """The arguments' arrays as borrowed views (kernels._borrow): every name the loop binds them to
    is then free of reference counting -- per-sample XOR training 2.96 -> 1.59 ms per 1000 epochs."""
    b = KB.borrowed
    return (
        Program(b(program.ops), b(program.alphas), b(program.reals), b(program.offs), b(program.sizes)),
        State(b(state.params), b(state.grads), b(state.s1), b(state.s2), b(state.hyper), b(state.buffers)),
        Work(b(work.acts), b(work.dacts), b(work.iwork), b(work.y_batch), b(work.labels_batch), b(work.fwork)),
    )


@jit(inline=True)
def _borrow_data(data):
    """The training set's arrays as borrowed views."""
    return Data(KB.borrowed(data.x), KB.borrowed(data.y), KB.borrowed(data.labels))


@jit(inline=True)
def _forward(program, state, work, nb, n_ops, rng, threads):
    """Layers 0..n_ops-1 on the batch in the workspace. ``rng``: the network's generator while
    training, None for inference (dropout the identity, batch norm on its running statistics);
    ``threads`` = (image_threads, dense_threads), see Rules."""
    ops, offs, acts, params = program.ops, program.offs, work.acts, state.params
    image_threads, dense_threads = threads
    for i in range(n_ops):
        kind = ops[i, F_KIND]
        if kind == dense.KIND:
            dense.forward(ops, offs, i, params, acts, nb, dense_threads)
        elif kind == conv.KIND:
            conv.forward(image_threads, program, i, params, work, nb)
        elif kind == pool.KIND:
            pool.forward(image_threads, program, i, params, work, nb)
        elif kind == activation.KIND:
            activation.forward(image_threads, program, i, acts, nb)
        elif kind == norm.KIND:
            norm.forward(image_threads, program, i, state, work, nb, rng)
        else:
            reshape.forward(image_threads, program, i, work, nb, rng)


@jit(inline=True)
def _backward(program, state, work, nb, n_ops, threads, outer):
    ops, offs, acts, dacts = program.ops, program.offs, work.acts, work.dacts
    image_threads, dense_threads = threads
    for i in range(n_ops - 1, -1, -1):
        kind = ops[i, F_KIND]
        if kind == dense.KIND:
            dense.backward(ops, offs, i, state, work, nb, (outer, dense_threads))
        elif kind == conv.KIND:
            conv.backward(image_threads, program, i, state, work, nb)
        elif kind == pool.KIND:
            pool.backward(image_threads, program, i, state, work, nb)
        elif kind == activation.KIND:
            activation.backward(image_threads, program, i, acts, dacts, nb)
        elif kind == norm.KIND:
            norm.backward(image_threads, program, i, state, work, nb)
        else:
            reshape.backward(image_threads, program, i, state, work, nb)


def _steps_parallel(kind, arrays, coef, parts):
    # From Python, as parallel kernels are started; object mode hands the coefficients over as Python
    # floats, which would type them float64: back to the parameters' dtype (exactly).
    c = arrays[0].dtype.type
    KO.steps_parallel(kind, arrays, tuple(c(v) for v in coef), parts)


@jit
def _optimizer_step(kind, state, t, threads):
    """One step on the flat arrays, shared out over ``threads`` (Rules.dense_threads) when there are
    enough parameters (value by value: the same numbers on any number of threads)."""
    params = state.params
    c = params.dtype.type
    k = KO.coefficients(kind, state.hyper, t)
    coef = (c(k[0]), c(k[1]), c(k[2]), c(k[3]), c(k[4]), c(k[5]), c(k[6]))
    arrays = (params, state.grads, state.s1, state.s2)
    parts = split.parts(threads, params.size)
    if parts > 1:
        with config.objmode():
            _steps_parallel(kind, arrays, coef, parts)
    else:
        KO.step_span(kind, arrays, coef)


@jit(inline=True)
def _outer_sgd_step(program, state, work):
    """Plain SGD on one sample: the dense layers' weights in one pass each (dense.sgd_outer), every
    other parameter from its gradient as _optimizer_step does -- the same numbers, bit for bit."""
    ops, params, grads = program.ops, state.params, state.grads
    lr = params.dtype.type(state.hyper[0])
    start = 0
    for i in range(ops.shape[0]):
        if ops[i, F_KIND] == dense.KIND:
            first, end = dense.weight_range(ops, i)
            KO._sgd(params[start:first], grads[start:first], (lr,))
            dense.sgd_outer(ops, program.offs, i, params, work.acts, work.dacts, lr)
            start = end
    KO._sgd(params[start:], grads[start:], (lr,))


@jit(inline=True)
def _grads_finite(program, state, work, outer):
    """Every gradient of the batch is finite; under ``outer`` the dense weight gradients, never
    formed, are judged from their factors."""
    if not outer:
        return _all_finite(state.grads)
    ops, grads = program.ops, state.grads
    start = 0
    for i in range(ops.shape[0]):
        if ops[i, F_KIND] == dense.KIND:
            first, end = dense.weight_range(ops, i)
            if not _all_finite(grads[start:first]):
                return False
            if not dense.outer_finite(ops, program.offs, i, work.acts, work.dacts):
                return False
            start = end
    return _all_finite(grads[start:])


@jit(inline=True)
def _outer_gradients(program, state, work):
    """The dense weight gradients that ``outer`` training left unformed, from the last sample in
    the workspace: the layers' ``grads`` then show the last step's gradient, as on every path."""
    ops = program.ops
    for i in range(ops.shape[0]):
        if ops[i, F_KIND] == dense.KIND:
            dense.outer_gradient(ops, program.offs, i, state.grads, work.acts, work.dacts)


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


@jit(inline=True)
def _batch_gradients(data, rng, idx, program, state, work, rules, outer):
    """Forward, loss and backward for the samples ``idx`` (``rng``: the network's generator, see
    Data); gradients land in ``state.grads`` (the dense weights' only when not ``outer``, see Rules).

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
    n_in, x0 = sizes[0], offs[0]
    for r in range(nb):  # row slices: copied as blocks (a loop over k measured 2.6x slower)
        src = idx[r]
        acts[x0 + r * n_in : x0 + (r + 1) * n_in] = x[src]
        y_flat[r * ny : (r + 1) * ny] = y[src]
        l_batch[r] = labels[src]
    _forward(program, state, work, nb, last, rng, (rules.image_threads, rules.dense_threads))
    o_off, m = offs[last], nb * n_out
    if loss_kind == LOSS_MSE:
        loss = KL._mse_span(y_flat, 0, acts, o_off, m)
        KL._mse_backward_span(y_flat, 0, acts, o_off, dacts, o_off, m)
    elif loss_kind == LOSS_BCE:
        loss = KL._bce(y_flat[:m], acts[o_off : o_off + m], bce_eps)
        KL._bce_backward_into(y_flat[:m], acts[o_off : o_off + m], bce_eps, dacts[o_off : o_off + m])
    else:
        logits, dlogits = KB.shaped(acts, o_off, (nb, n_out)), KB.shaped(dacts, o_off, (nb, n_out))
        loss = KL._softmax_cross_entropy_into(logits, l_batch[:nb], dlogits)
    loss = np.float64(state.params.dtype.type(loss))  # the layer path sees the loss in the network's dtype
    if not np.isfinite(loss):
        return loss, 0.0, 1
    correct = 0.0
    if rules.acc_kind != ACC_NONE:
        correct = _count_correct(rules.acc_kind, acts, o_off, y_flat, l_batch, nb, n_out)
    _backward(program, state, work, nb, last, (rules.image_threads, rules.dense_threads), outer)
    if not _grads_finite(program, state, work, outer):  # an inf input can give a finite loss but inf/NaN gradients
        if outer:
            _outer_gradients(program, state, work)
        return loss, correct, 2
    return loss, correct, 0


@jit
def batch_gradients(data, rng, idx, program, state, work, rules):
    """One batch's gradients without an update (for gradient hooks such as an MPI allreduce)."""
    program, state, work = _borrow(program, state, work)
    data = _borrow_data(data)
    return _batch_gradients(data, rng, KB.borrowed(idx), program, state, work, rules, False)


@jit
def apply_step(state, opt_kind, t, threads):
    """The optimizer update for step ``t`` on the flat arrays (``threads`` as Rules.dense_threads)."""
    _optimizer_step(opt_kind, state, t, threads)


@jit
def run_epochs(data, rng, orders, program, state, work, rules, log):
    """Train ``log.losses.size`` epochs; the sample order of epoch e is ``orders[e]``, or ``orders[0]``
    for every epoch when ``orders`` has one row.

    Fills ``log.losses[e]`` (mean over samples), ``log.corrects[e]`` and counts the optimizer's steps
    on in ``log.steps[0]``. A non-finite loss or gradient stops before that batch's update and sets
    ``log.status`` to (epoch, batch, 0 for the loss / 1 for a gradient).
    """
    program, state, work = _borrow(program, state, work)
    data = _borrow_data(data)
    orders = KB.borrowed(orders)
    n = data.x.shape[0]
    t = log.steps[0]
    batch_size, outer = rules.batch_size, rules.outer
    for e in range(log.losses.size):
        order = orders[e] if orders.shape[0] > 1 else orders[0]
        total = 0.0
        correct = 0.0
        batch = 0
        for start in range(0, n, batch_size):
            idx = order[start : min(start + batch_size, n)]
            loss, right, fault = _batch_gradients(data, rng, idx, program, state, work, rules, outer)
            if fault:
                log.status[0] = e
                log.status[1] = batch
                log.status[2] = fault - 1
                log.steps[0] = t
                return
            total += loss * idx.size
            correct += right
            t += 1
            if outer:
                _outer_sgd_step(program, state, work)
            else:
                _optimizer_step(rules.opt_kind, state, t, rules.dense_threads)
            batch += 1
        log.losses[e] = total / n
        log.corrects[e] = correct
    if outer:
        _outer_gradients(program, state, work)
    log.steps[0] = t


@jit
def predict_batches(x, program, state, work, capacity, threads, out):
    """Inference: every layer's forward pass on samples x (n, features), ``capacity`` at a time
    through the workspace, the last layer's outputs into out (n, outputs); ``threads`` =
    (image_threads, dense_threads) as in Rules."""
    program, state, work = _borrow(program, state, work)
    x = KB.borrowed(x)
    n, n_ops = x.shape[0], program.ops.shape[0]
    offs, sizes, acts = program.offs, program.sizes, work.acts
    n_in, x0 = sizes[0], offs[0]
    for start in range(0, n, capacity):
        nb = min(capacity, n - start)
        for r in range(nb):
            acts[x0 + r * n_in : x0 + (r + 1) * n_in] = x[start + r]
        _forward(program, state, work, nb, n_ops, None, threads)
        o, m = offs[n_ops], sizes[n_ops]
        for r in range(nb):
            for k in range(m):
                out[start + r, k] = acts[o + r * m + k]
