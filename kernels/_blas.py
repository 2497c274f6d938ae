"""A BLAS matrix product on views, for compiled code: ``gemm(a, b, out, transpose_a, transpose_b)``.

``out = op(a) @ op(b)`` where op transposes when asked; a, b and out are 2-D arrays of one float
dtype whose rows may be spaced apart (``w[:, 64:128]``, ``x[:, r0:r1]``) but whose elements within
a row are adjacent. numba's ``np.dot`` copies such views first; this passes their row spacing to
BLAS as its leading dimension, so a product can be cut into blocks of columns or rows with no copy.
It calls the same routine ``np.dot`` does (numba's ``numba_xxgemm``, which calls scipy's BLAS), with
the same arguments for whole contiguous arrays -- the same numbers. Like a compiled loop it checks
nothing: the caller's shapes must agree (m, n from ``out``; k from ``a``).

Registered when numba loads (:func:`kernels.config.when_numba_loads`).
"""

from __future__ import annotations

from typing import Any

from .config import when_numba_loads

gemm: Any = None  # the numba intrinsic, set when numba loads


def _install(numba: Any) -> None:
    from llvmlite import ir
    from numba.core import cgutils, types
    from numba.extending import intrinsic
    from numba.np import linalg
    from numba.np.arrayobj import make_array

    char, void_p, intp = ir.IntType(8), ir.IntType(8).as_pointer(), ir.IntType(64)

    def typer(typingctx: Any, a: Any, b: Any, out: Any, transpose_a: Any, transpose_b: Any) -> Any:
        arrays = (a, b, out)
        if not all(isinstance(t, types.Array) and t.ndim == 2 for t in arrays):
            return None
        if len({t.dtype for t in arrays}) != 1 or a.dtype not in (types.float32, types.float64):
            return None
        if not (isinstance(transpose_a, types.Boolean) and isinstance(transpose_b, types.Boolean)):
            return None
        linalg.ensure_blas()

        def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
            arr_a, arr_b, arr_c = (make_array(t)(context, builder, v) for t, v in zip(arrays, args[:3], strict=True))
            itemsize = context.get_constant(types.intp, context.get_abi_sizeof(context.get_data_type(a.dtype)))

            def lead(arr: Any) -> Any:  # the row spacing in elements: BLAS's leading dimension
                return builder.sdiv(cgutils.unpack_tuple(builder, arr.strides)[0], itemsize)

            m, n = cgutils.unpack_tuple(builder, arr_c.shape)
            a_rows, a_cols = cgutils.unpack_tuple(builder, arr_a.shape)
            k = builder.select(args[3], a_rows, a_cols)
            # Row-major out (m, n) is column-major out.T (n, m) = op(b).T @ op(a).T: BLAS takes b first.
            trans, notrans = ir.Constant(char, ord("t")), ir.Constant(char, ord("n"))
            trans_b, trans_a = builder.select(args[4], trans, notrans), builder.select(args[3], trans, notrans)
            alpha = linalg.make_constant_slot(context, builder, a.dtype, 1.0)
            beta = linalg.make_constant_slot(context, builder, a.dtype, 0.0)
            # numba_xxgemm(kind, transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
            arg_types = [char, char, char, intp, intp, intp, void_p, void_p, intp, void_p, intp, void_p, void_p, intp]
            fnty = ir.FunctionType(ir.IntType(32), arg_types)
            fn = cgutils.get_or_insert_function(builder.module, fnty, "numba_xxgemm")
            kind = ir.Constant(char, ord(linalg.get_blas_kind(a.dtype)))
            res = builder.call(
                fn,
                (
                    kind,
                    trans_b,
                    trans_a,
                    n,
                    m,
                    k,
                    builder.bitcast(alpha, void_p),
                    builder.bitcast(arr_b.data, void_p),
                    lead(arr_b),
                    builder.bitcast(arr_a.data, void_p),
                    lead(arr_a),
                    builder.bitcast(beta, void_p),
                    builder.bitcast(arr_c.data, void_p),
                    lead(arr_c),
                ),
            )
            linalg.check_blas_return(context, builder, res)
            return context.get_dummy_value()

        return types.void(a, b, out, transpose_a, transpose_b), codegen

    global gemm
    gemm = intrinsic(typer)


when_numba_loads(_install)
