"""Every op of rop, by family. Importing this package is the only place ops register."""

from .arith import add, div, maximum, minimum, mul, neg, pow, sub, where
from .composite import log_softmax, mse, softmax, softmax_cross_entropy
from .contract import einsum, tensordot
from .conv import conv, conv1d, conv2d
from .decompositions import cholesky, det, det_sign, logabsdet
from .elementwise import (
                          abs_,
                          arccos,
                          arcsin,
                          cos,
                          exp,
                          leaky_relu,
                          log,
                          relu,
                          round_,
                          sigmoid,
                          sign,
                          sin,
                          softplus,
                          sqrt,
                          square,
                          step,
                          tanh,
)
from .guards import away_from_kink, certified, full_rank, nonzero, within
from .indexing import scatter_add, take
from .linalg import inv, matmul, solve
from .reduce import expand_to, logsumexp, mean, sum, sum_to
from .reductions import cumsum, max, min, prod, std, variance
from .special import (
                          arcsinh,
                          arctan,
                          arctan2,
                          clip,
                          cosh,
                          erf,
                          erfinv,
                          expm1,
                          hypot,
                          log1p,
                          sinh,
                          stop_gradient,
)
from .structure import broadcast_to, concatenate, getitem, reshape, scatter, transpose

abs = abs_
round = round_

__all__ = [
    "abs", "arccos", "arcsin", "round", "cos", "exp", "leaky_relu", "log", "relu", "sigmoid",
    "sign", "sin", "softplus", "sqrt", "square", "step", "tanh", "add", "div", "maximum",
    "minimum", "mul", "neg", "pow", "sub", "where", "broadcast_to", "concatenate", "getitem",
    "reshape", "scatter", "transpose", "expand_to", "logsumexp", "mean", "sum", "sum_to",
    "matmul", "inv", "solve", "full_rank", "nonzero", "away_from_kink", "within", "certified",
    "log_softmax", "mse", "softmax", "softmax_cross_entropy", "tensordot", "einsum", "take",
    "scatter_add", "max", "min", "prod", "cumsum", "variance", "std", "arcsinh", "arctan",
    "arctan2", "clip", "cosh", "erf", "erfinv", "expm1", "hypot", "log1p", "sinh",
    "stop_gradient", "cholesky", "det", "det_sign", "logabsdet", "conv", "conv1d", "conv2d"
]
