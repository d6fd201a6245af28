"""Composites: functions built from primitives, so they need no rules of their own."""

from .arith import sub
from .elementwise import exp
from .reduce import logsumexp, mean, sum


def log_softmax(x, axis=-1):
    """log(softmax(x)) = x - logsumexp(x), along ``axis``.

    >>> import graph as G, numpy as np
    >>> G.evaluate(G.log_softmax(G.var("z", (3,))), {"z": [0.0, 0.0, 0.0]})
    array([-1.09861229, -1.09861229, -1.09861229])
    """
    return sub(x, logsumexp(x, axis=axis, keepdims=True))


def softmax(x, axis=-1):
    """exp(x) / sum(exp(x)) along ``axis``, computed as exp(log_softmax(x))."""
    return exp(log_softmax(x, axis=axis))


def softmax_cross_entropy(logits, onehot):
    """Mean over the batch (leading axes) of -sum(onehot * log_softmax(logits), axis=-1).

    ``onehot`` holds target probabilities (rows of a one-hot matrix, or any distribution).
    """
    return mean(-sum(onehot * log_softmax(logits, axis=-1), axis=-1))


def mse(prediction, target):
    """Mean of the squared differences over all entries."""
    diff = prediction - target
    return mean(diff * diff)
