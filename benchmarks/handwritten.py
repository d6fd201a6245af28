"""Hand-written numpy for tanh MLPs: forward, backprop, Pearlmutter's R-op HVP (docs/math.md §5).

This is the baseline rop is measured against and, in the tests, the oracle its HVPs are
checked against. It never imports rop or graph. Layers are ``s_l = a_{l-1} @ W_l + b_l``
(rows are samples), ``a_l = tanh(s_l)`` for hidden layers, a linear output layer, and the
loss ``E = sum((a_L - Y)**2) / (2 N)``.
"""

import numpy as np


def init_mlp(sizes, rng, scale=1.0):
    """[(W_1, b_1), ...] with W_l of shape (sizes[l-1], sizes[l]), Glorot-like scale."""
    return [(rng.normal(size=(m, n)) * scale / np.sqrt(m), rng.normal(size=n) * 0.1)
            for m, n in zip(sizes[:-1], sizes[1:])]


def loss(params, X, Y):
    a = X
    for layer, (W, b) in enumerate(params):
        s = a @ W + b
        a = np.tanh(s) if layer < len(params) - 1 else s
    return 0.5 * np.sum((a - Y) ** 2) / X.shape[0]


def _forward(params, X):
    activations = [X]
    for layer, (W, b) in enumerate(params):
        s = activations[-1] @ W + b
        activations.append(np.tanh(s) if layer < len(params) - 1 else s)
    return activations


def gradient(params, X, Y):
    """[(dE/dW_l, dE/db_l), ...] by backprop."""
    a = _forward(params, X)
    delta = (a[-1] - Y) / X.shape[0]
    grads = []
    for layer in range(len(params) - 1, -1, -1):
        W = params[layer][0]
        grads.append((a[layer].T @ delta, delta.sum(axis=0)))
        if layer > 0:
            delta = (delta @ W.T) * (1.0 - a[layer] ** 2)
    return grads[::-1]


def hvp(params, directions, X, Y):
    """[(R{dE/dW_l}, R{dE/db_l}), ...] = H v by Pearlmutter's R-operator, v = directions."""
    n_layers, N = len(params), X.shape[0]
    a, Ra = [X], [None]  # R{a_0} = 0
    for layer, ((W, b), (V, c)) in enumerate(zip(params, directions)):
        s = a[-1] @ W + b
        Rs = a[-1] @ V + c if Ra[-1] is None else a[-1] @ V + Ra[-1] @ W + c
        if layer < n_layers - 1:
            out = np.tanh(s)
            a.append(out)
            Ra.append((1.0 - out**2) * Rs)
        else:
            a.append(s)
            Ra.append(Rs)
    delta, Rdelta = (a[-1] - Y) / N, Ra[-1] / N
    result = []
    for layer in range(n_layers - 1, -1, -1):
        W, V = params[layer][0], directions[layer][0]
        RgW = a[layer].T @ Rdelta
        if Ra[layer] is not None:  # R{a_0} = 0: the input layer has no such term
            RgW = RgW + Ra[layer].T @ delta
        result.append((RgW, Rdelta.sum(axis=0)))
        if layer > 0:
            e, Re = delta @ W.T, Rdelta @ W.T + delta @ V.T
            slope = 1.0 - a[layer] ** 2
            delta, Rdelta = e * slope, Re * slope - 2.0 * e * a[layer] * Ra[layer]
    return result[::-1]
