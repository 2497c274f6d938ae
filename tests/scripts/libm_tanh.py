"""tanh from the C library instead of numpy's SIMD routine: both within 1 ulp, rarely bit-equal.
A run whose weights move when the seed's own code swaps one for the other is ill-conditioned:
last-bit differences grow, and no second implementation can be expected to match it closely."""

import math

import numpy as np

_tanh = np.vectorize(math.tanh, otypes=[float])


def tanh(x):
    return _tanh(x)


def tanh_prime(x):
    return 1 - _tanh(x) ** 2
