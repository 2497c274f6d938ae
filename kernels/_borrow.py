"""Borrowed array views for the compiled training loop: no reference counting inside it.

numba counts references to every array it holds: each time compiled code binds an array to a new
name (an inlined function's argument, a view, a field taken from a namedtuple), it adds one with an
atomic increment and later takes it away with an atomic decrement. In a per-sample training loop
those pairs were the largest cost: the XOR network's step made ~95 of each per sample (callgrind),
half of the loop's time. ``borrowed(a)`` is ``a`` without its owner (a null meminfo): the same data,
shape and strides, but counting references to it does nothing. Only for arrays that outlive the
compiled call that borrows them -- the arguments of an entry point -- and never returned from it.

The intrinsic is registered when numba loads (:func:`kernels.config.when_numba_loads`).
"""

from __future__ import annotations

from typing import Any

from .config import when_numba_loads

borrowed: Any = None  # the numba intrinsic, set when numba loads


def _install(numba: Any) -> None:
    from numba.core import types
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

    global borrowed
    borrowed = intrinsic(borrow)


when_numba_loads(_install)
