"""Borrowed array views for the compiled training loop: no reference counting inside it.

numba counts references to every array it holds: each time compiled code binds an array to a new
name (an inlined function's argument, a view, a field taken from a namedtuple), it adds one with an
atomic increment and later takes it away with an atomic decrement. In a per-sample training loop
those pairs were the largest cost: the XOR network's step made ~95 of each per sample (callgrind),
half of the loop's time. ``borrowed(a)`` is ``a`` without its owner (a null meminfo): the same data,
shape and strides, but counting references to it does nothing. Only for arrays that outlive every
use of the borrowed view -- the arguments of the compiled call that borrows them, used within that
call (kernels.winograd's ``_runs`` hands its views to the caller that passed the array) -- and never
handed back to Python.

``shaped(buffer, start, shape)`` is ``buffer[start : start + prod(shape)].reshape(shape)`` for a
contiguous 1-D buffer, made in a few instructions: numba's ``reshape`` calls a C helper to work out
the strides (and compiles an error message per tuple length), which the engine's ops paid on every
layer of every sample. Like a compiled loop it checks no bounds: the caller's offsets must fit.

Both intrinsics are registered when numba loads (:func:`kernels.config.when_numba_loads`).
"""

from __future__ import annotations

from typing import Any

from .config import when_numba_loads

borrowed: Any = None  # the numba intrinsics, set when numba loads
shaped: Any = None


def _install(numba: Any) -> None:
    from numba.core import cgutils, types
    from numba.extending import intrinsic
    from numba.np.arrayobj import make_array

    def borrow(typingctx: Any, arr: Any) -> Any:
        if not isinstance(arr, types.Array):
            return None

        def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
            src = make_array(sig.args[0])(context, builder, args[0])
            view = make_array(sig.return_type)(context, builder)
            context.populate_array(
                view, data=src.data, shape=src.shape, strides=src.strides, itemsize=src.itemsize, meminfo=None
            )
            return view._getvalue()

        return arr(arr), codegen

    def make_shaped(typingctx: Any, buffer: Any, start: Any, shape: Any) -> Any:
        if not (
            isinstance(buffer, types.Array)
            and buffer.ndim == 1
            and buffer.layout == "C"
            and isinstance(start, types.Integer)
            and isinstance(shape, types.BaseTuple)
            and len(shape) > 0
            and all(isinstance(t, types.Integer) for t in shape)
        ):
            return None
        result = types.Array(buffer.dtype, len(shape), "C")

        def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
            buffer_t, start_t, shape_t = sig.args
            src = make_array(buffer_t)(context, builder, args[0])
            dims = [
                context.cast(builder, builder.extract_value(args[2], k), shape_t[k], types.intp)
                for k in range(len(shape_t))
            ]
            itemsize = context.get_constant(types.intp, context.get_abi_sizeof(context.get_data_type(buffer_t.dtype)))
            strides = [itemsize]
            for d in reversed(dims[1:]):
                strides.insert(0, builder.mul(strides[0], d))
            out = make_array(sig.return_type)(context, builder)
            context.populate_array(
                out,
                data=builder.gep(src.data, [context.cast(builder, args[1], start_t, types.intp)]),
                shape=cgutils.pack_array(builder, dims),
                strides=cgutils.pack_array(builder, strides),
                itemsize=itemsize,
                meminfo=None,
            )
            return out._getvalue()

        return result(buffer, start, shape), codegen

    global borrowed, shaped
    borrowed = intrinsic(borrow)
    shaped = intrinsic(make_shaped)


when_numba_loads(_install)
