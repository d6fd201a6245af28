"""Small model builders shared by examples, benchmarks and the command line."""

from __future__ import annotations

import numpy as np

import graph as G


def mlp_layers(sizes, prefix=""):
    """Variables [(W1, b1), (W2, b2), ...] of a fully connected net with layer ``sizes``.

    >>> [W.shape for W, b in mlp_layers([4, 8, 2])]
    [(4, 8), (8, 2)]
    """
    return [(G.var(f"{prefix}W{i}", (m, n)), G.var(f"{prefix}b{i}", (n,)))
            for i, (m, n) in enumerate(zip(sizes[:-1], sizes[1:]), start=1)]


def mlp(x, layers, activation=G.tanh, output_activation=None):
    """The net's output: ``a = activation(a @ W + b)`` per hidden layer, then the last layer
    (linear unless ``output_activation`` is given)."""
    a = x
    for i, (W, b) in enumerate(layers):
        a = a @ W + b
        if i < len(layers) - 1:
            a = activation(a)
        elif output_activation is not None:
            a = output_activation(a)
    return a


def mlp_values(sizes, rng, scale=1.0):
    """Random initial values [(W, b), ...] with a Glorot-like scale."""
    return [(rng.normal(size=(m, n)) * scale / np.sqrt(m), rng.normal(size=n) * 0.1)
            for m, n in zip(sizes[:-1], sizes[1:])]


def feed_of(layers, values) -> dict:
    """{variable name: array} for the layers' variables."""
    return {v.name: x for pair, pair_values in zip(layers, values)
            for v, x in zip(pair, pair_values)}


def flat(layers) -> list:
    """[W1, b1, W2, b2, ...]."""
    return [v for pair in layers for v in pair]
