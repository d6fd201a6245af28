"""Every op of rop, by family. Importing this package is the only place ops register."""

from .elementwise import (abs_, arccos, arcsin, cos, exp, leaky_relu, log, relu, round_,
                          sigmoid, sign, sin, softplus, sqrt, square, step, tanh)
from .arith import add, div, maximum, minimum, mul, neg, pow, sub, where
from .structure import broadcast_to, concatenate, getitem, reshape, scatter, transpose
from .reduce import expand_to, logsumexp, mean, sum, sum_to
from .reductions import cumsum, max, min, prod, std, variance
from .guards import away_from_kink, certified, full_rank, nonzero, within
from .linalg import inv, matmul, solve
from .contract import einsum, tensordot
from .indexing import scatter_add, take
from .decompositions import cholesky, det, det_sign, logabsdet
from .conv import conv, conv1d, conv2d
from .composite import log_softmax, mse, softmax, softmax_cross_entropy
from .special import (arcsinh, arctan, arctan2, clip, cosh, erf, erfinv, expm1, hypot, log1p,
                      sinh, stop_gradient)
from .families import broadcast_op, elementwise_op, sympy_elementwise

abs = abs_  # noqa: A001 - numpy's name, kept for users of graph.ops
round = round_  # noqa: A001

__all__ = [
    "abs", "arccos", "arcsin", "round", "cos", "exp", "leaky_relu", "log", "relu", "sigmoid",
    "sign", "sin", "softplus", "sqrt", "square", "step", "tanh", "add", "div", "maximum",
    "minimum", "mul", "neg", "pow", "sub", "where", "broadcast_to", "concatenate", "getitem",
    "reshape", "scatter", "transpose", "expand_to", "logsumexp", "mean", "sum", "sum_to", "matmul",
    "inv", "solve", "full_rank", "nonzero", "away_from_kink", "within", "certified",
    "log_softmax", "mse", "softmax", "softmax_cross_entropy",
    "tensordot", "einsum", "take", "scatter_add",
    "max", "min", "prod", "cumsum", "variance", "std",
    "arcsinh", "arctan", "arctan2", "clip", "cosh", "erf", "erfinv", "expm1", "hypot", "log1p",
    "sinh", "stop_gradient",
    "inv", "solve", "cholesky", "det", "det_sign", "logabsdet", "full_rank", "nonzero", "away_from_kink", "within", "certified",
    "conv", "conv1d", "conv2d", "log_softmax", "mse", "softmax", "softmax_cross_entropy",
]
