"""fastnn: the from-scratch numpy neural networks of the tutorials, with compiled kernels."""

__version__ = "0.1.0"
