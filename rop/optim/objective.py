"""Objective: a loss over a flat parameter vector, owning its compiled programs (value,
gradient, Hessian- and Gauss-Newton-vector products, inverse HVPs) and counting their cost."""

from __future__ import annotations

import itertools
from collections import Counter

import numpy as np

from graph.compile import compile as compile_program
from graph.errors import FeedError, GraphError, ShapeError
from graph.leaves import var
from graph.node import Node
from graph.traverse import fresh_names, variables

from ..backprop import grad
from ..hessian import ggn_vp, hvp
from ..inverse_hvp import inverse_hvp_graph
from ._checks import integer, shown
from .data import Data, computed

# What one call costs, in gradient-equivalents on the full data (a gradient = 1). Backprop
# is about three forward passes' work, so a loss alone is 1/3; an HVP (forward-over-reverse)
# or a Gauss-Newton product (R-forward, then backprop) about twice a gradient. An inverse HVP
# is charged like one HVP: a lower bound, since each probe of a torn loop adds another pass.
# A call on a mini-batch of m out of N examples costs m/N of these.
COST = {"value": 1 / 3, "output": 1 / 3, "gradient": 1.0, "hvp": 2.0, "ggn_vp": 2.0,
        "inverse_hvp": 2.0}


class Objective:
    """The mean loss f(θ) = (1/m) Σ_i ℓ_i(θ) of a model over data, θ the flat parameters.

    θ is the concatenation of the raveled parameter arrays, in the order of ``params``.
    ``build(batch_size)`` returns ``(loss, output)`` nodes: the loss is the mean over a
    batch of ``batch_size`` examples that enter as variables named like the keys of
    ``data`` (arrays with a leading batch axis); ``output`` (or None) is the node the
    Gauss-Newton matrix is taken through. Graphs are built and compiled lazily, once per
    batch size; ``batch`` arguments are index arrays into the data (None: all of it).

    ``cost`` accumulates gradient-equivalents (see ``COST``), ``counts`` the calls by kind.

    θ, gradients and products have the parameters' dtype (float32 parameters: float32
    throughout); the data are cast to it. Data may be dask arrays: they stay where they are
    (on a cluster's workers, say), every full-data evaluation runs as a dask graph computed
    chunk by chunk, and a mini-batch is fetched once and reused (rop/optim/data.py).

    >>> import graph as G
    >>> w = G.var("w", (1,))
    >>> def build(m):
    ...     x, y = G.var("x", (m, 1)), G.var("y", (m,))
    ...     z = G.reshape(x @ w, shape=(m,))
    ...     return G.mean((z - y) ** 2), z
    >>> objective = Objective(build, [w], {"x": [[1.0], [2.0]], "y": [2.0, 4.0]})
    >>> objective.value(np.array([1.0])), objective.gradient(np.array([1.0]))
    (2.5, array([-5.]))
    >>> objective.ggn_vp(np.array([1.0]), np.array([1.0])), round(objective.cost, 4)
    (array([5.]), 3.3333)
    """

    def __init__(self, build, params, data: dict | None = None):
        if not callable(build):
            raise TypeError(f"Objective: build must be a function batch_size -> (loss, "
                            f"output), got {shown(build)}")
        self.build = build
        self.params = _parameters(params)
        self.dtype = np.result_type(*(p.dtype for p in self.params), np.float16)
        self._data = Data(data or {}, self.dtype)
        self.data = self._data.arrays
        lengths = {name: len(x) for name, x in self.data.items()}
        if len(set(lengths.values())) > 1:
            raise ShapeError(f"Objective: the data arrays differ in length along the batch "
                             f"axis: {lengths}")
        if 0 in lengths.values():  # the mean loss over no examples is NaN
            raise ShapeError("Objective: the data have no examples (length 0 along the "
                             "batch axis)")
        clash = set(self.data) & {p.name for p in self.params}
        if clash:
            raise ValueError(f"Objective: {sorted(clash)} named both a parameter and data")
        self.n_examples = next(iter(lengths.values()), None)
        self.size = sum(p.size for p in self.params)
        self._offsets = np.cumsum([p.size for p in self.params])[:-1]
        self.cost = 0.0
        self.counts = Counter()
        self._graphs, self._programs = {}, {}

    @classmethod
    def from_graph(cls, loss, params) -> Objective:
        """An objective without data (e.g. Rosenbrock's function): no batches, no output,
        so only ``hvp`` gives curvature."""
        objective = cls(lambda batch_size: (loss, None), params)
        objective.graph()  # the loss is at hand: check it now, in the call that passed it
        return objective

    # parameters

    def flatten(self, arrays) -> np.ndarray:
        """θ from a dict {name: array} or a list of arrays in the order of ``params``, each
        of its parameter's shape."""
        if isinstance(arrays, dict):
            return self._theta(arrays, "Objective.flatten", "arrays", by_name=True)
        arrays = list(arrays)
        if len(arrays) != len(self.params):
            raise ShapeError(f"Objective.flatten: {len(arrays)} arrays for the "
                             f"{len(self.params)} parameters {self._signature()}")
        return self._concatenate(arrays, [f"[{i}]" for i in range(len(arrays))],
                                 "Objective.flatten", "arrays")

    def unflatten(self, theta) -> dict:
        """{parameter name: array of its shape} from θ."""
        parts = np.split(self._theta(theta, "Objective.unflatten"), self._offsets)
        return {p.name: part.reshape(p.shape) for p, part in zip(self.params, parts)}

    def _theta(self, theta, owner, name="theta", *, by_name=False) -> np.ndarray:
        """``theta`` as a flat float vector of ``size`` entries, or with ``by_name`` also
        from a dict {parameter name: array}. A mistake raises an error in the words of
        ``owner`` (the public call) and ``name`` (its argument), naming the parameters and
        their shapes."""
        if by_name and isinstance(theta, dict):
            names = [p.name for p in self.params]
            missing = [n for n in names if n not in theta]
            unknown = [str(k) for k in theta if k not in names]
            if missing or unknown:
                wrong = [f"{what} {', '.join(names)}" for what, names in
                         (("no value for parameter(s)", missing), ("unknown name(s)", unknown))
                         if names]
                raise FeedError(f"{owner}: {name} has {' and '.join(wrong)}; the parameters "
                                f"are {self._signature()}")
            return self._concatenate([theta[n] for n in names], [f"[{n!r}]" for n in names],
                                     owner, name)
        try:
            vector = np.asarray(theta, dtype=float).astype(self.dtype, copy=False)
        except (TypeError, ValueError) as error:
            raise TypeError(f"{owner}: {name} must be a flat vector of {self.size} numbers"
                            f"{' or a dict {name: array}' if by_name else ''}, got "
                            f"{type(theta).__name__} ({error})") from None
        if vector.shape != (self.size,):
            raise ShapeError(f"{owner}: {name} has shape {vector.shape}; the parameters "
                             f"{self._signature()} take {self.size} numbers"
                             f"{' (pass a flat vector or a dict by name)' if by_name else ''}")
        return vector

    def _concatenate(self, arrays, labels, owner, name):
        """θ from one array per parameter (in order), each checked; ``labels`` say where
        each sits in the caller's argument (``['W']``, ``[0]``)."""
        flat = []
        for p, value, label in zip(self.params, arrays, labels):
            try:
                array = np.asarray(value, dtype=float).astype(self.dtype, copy=False)
            except (TypeError, ValueError) as error:
                raise TypeError(f"{owner}: {name}{label} is not numeric ({error})") from None
            if array.shape != p.shape:  # raveling anyway could silently transpose a matrix
                raise ShapeError(f"{owner}: {name}{label} has shape {array.shape}; the "
                                 f"parameter {p.name} has shape {p.shape}")
            flat.append(array.ravel())
        return np.concatenate(flat)

    def _signature(self) -> str:
        """The parameters by name and shape: "W (2, 3), b (3,)"."""
        return ", ".join(f"{p.name} {p.shape}" for p in self.params)

    def feed(self, theta, batch=None) -> dict:
        """The parameters from θ and the examples of ``batch``, by variable name."""
        return {**self.unflatten(theta), **self._data.examples(self._batch(batch))}

    def batch_size(self, batch=None) -> int | None:
        """The number of examples in ``batch`` (None for an objective without data)."""
        return self.n_examples if batch is None else len(self._batch(batch))

    def batches(self, batch_size: int | None = None):
        """Mini-batches of ``batch_size`` consecutive examples rotating through the data in
        order, wrapping around, forever; None (or data no larger) yields None forever."""
        batch_size = integer("Objective.batches", "batch_size", batch_size, 1, optional=True)
        if batch_size is None or self.n_examples is None or batch_size >= self.n_examples:
            return itertools.repeat(None)
        return (np.arange(start, start + batch_size) % self.n_examples
                for start in itertools.count(0, batch_size))

    # evaluations

    def value(self, theta, batch=None) -> float:
        """f(θ) on ``batch``."""
        return float(self._run("value", theta, batch)[0])

    def value_and_gradient(self, theta, batch=None) -> tuple[float, np.ndarray]:
        """(f(θ), ∇f(θ)) on ``batch``, from one backprop pass."""
        loss, *gradients = self._run("gradient", theta, batch)
        return float(loss), self._flat(gradients)

    def gradient(self, theta, batch=None) -> np.ndarray:
        """∇f(θ) on ``batch``."""
        return self.value_and_gradient(theta, batch)[1]

    def output(self, theta, batch=None) -> np.ndarray:
        """The model's output (e.g. its predictions) on ``batch``."""
        return self._run("output", theta, batch)[0]

    def hvp(self, theta, v, batch=None) -> np.ndarray:
        """H v, H = ∇²f(θ) on ``batch``, exactly (Pearlmutter: the R-operator of ∇f)."""
        return self._flat(self._run("hvp", theta, batch, v))

    def ggn_vp(self, theta, v, batch=None) -> np.ndarray:
        """G v, G = Jᵀ (∂²f/∂z²) J the Gauss-Newton matrix through the output z."""
        return self._flat(self._run("ggn_vp", theta, batch, v))

    def inverse_hvp(self, theta, v, batch=None, method: str = "linear") -> np.ndarray:
        """H⁻¹ v by an exact graph method of :func:`rop.inverse_hvp` (``linear`` or
        ``functional``). Raises NotInvertibleError where no exact inverse applies; a
        failure to build is remembered, so the graph is not rebuilt on every call."""
        return self._flat(self._run(("inverse_hvp", method), theta, batch, v))

    def per_example_gradient_squares(self, theta, batch=None) -> np.ndarray:
        """Σ_i ∇ℓ_i(θ)², elementwise over the examples of ``batch``: m times the diagonal
        of the empirical Fisher matrix (1/m) Σ_i ∇ℓ_i ∇ℓ_iᵀ.

        Cost: one batch-size-1 gradient per example, so m/N gradient-equivalents, but m
        interpreter passes rather than one: the engine has no per-example gradient op.
        Without data the loss is its only "example" and this is ∇f(θ)². On dask data a
        batch is required (all examples one by one would each be a pass over the cluster).
        """
        batch = self._batch(batch)
        if self.n_examples is None:
            return self.gradient(theta) ** 2
        if batch is None and self._data.lazy:
            raise ValueError("Objective.per_example_gradient_squares: the data are dask "
                             "arrays, so give a batch (for HessianFree: batch_size, and the "
                             "preconditioner is taken on the curvature batch)")
        examples = self._data.examples(batch)
        total = np.zeros(self.size, self.dtype)
        for i in range(self.n_examples if batch is None else len(batch)):
            one = {name: x[i:i + 1] for name, x in examples.items()}
            total += self._flat(self._evaluate("gradient", theta, one, 1)[1:]) ** 2
        return total

    # graphs and programs, built once per batch size

    def graph(self, batch=None):
        """The (loss, output) nodes for the size of ``batch``, built on first use."""
        return self._graph_of_size(self.batch_size(batch))

    def _graph_of_size(self, size):
        if size not in self._graphs:
            loss, output = self._built(size)
            missing = [p.name for p in self.params if p not in variables([loss])]
            if missing:
                raise GraphError(f"Objective: the loss does not depend on parameter(s) "
                                 f"{', '.join(missing)}; build() must use the variables "
                                 f"passed as params")
            self._graphs[size] = (loss, output)
        return self._graphs[size]

    def _built(self, size):
        """build(size), checked: (a scalar loss node, an output node or None)."""
        built = self.build(size)
        if not (isinstance(built, (tuple, list)) and len(built) == 2):
            raise TypeError(f"Objective: build({size}) must return (loss, output), with "
                            f"output None if there is none; got {shown(built)}")
        loss, output = built
        for what, node in (("loss", loss), ("output", output)):
            if not (isinstance(node, Node) or what == "output" and node is None):
                raise TypeError(f"Objective: build({size}): the {what} must be a graph node"
                                f"{' or None' if what == 'output' else ''}, got {shown(node)}")
        if loss.shape != ():  # a per-example loss not yet averaged, say
            raise ShapeError(f"Objective: build({size}) returned a loss of shape "
                             f"{loss.shape}; the loss must be a scalar (the mean over the "
                             f"batch, e.g. G.mean(...))")
        return loss, output

    def _batch(self, batch):
        """``batch`` checked: None, or a non-empty 1-D integer array of example indices
        (numpy would wrap negative indices around and take a boolean mask, whose length is
        then not the batch size)."""
        if batch is None:
            return None
        n = self.n_examples
        if n is None:
            raise ValueError(f"Objective: this objective has no data, so batch must be None; "
                             f"got {shown(batch)}")
        index = np.asarray(batch)
        what = f"batch must be a 1-D array of integer indices into the {n} examples"
        if index.ndim != 1:
            got = shown(batch) if index.ndim == 0 else f"an array of shape {index.shape}"
            raise ValueError(f"Objective: {what}, got {got}")
        if not len(index):
            raise ValueError("Objective: batch is empty; a batch needs at least one example")
        if index.dtype.kind not in "iu":
            hint = "; for a boolean mask pass np.flatnonzero(mask)" if index.dtype == bool else ""
            raise TypeError(f"Objective: {what}, got dtype {index.dtype}{hint}")
        outside = index[(index < 0) | (index >= n)]
        if len(outside):
            raise IndexError(f"Objective: batch indices must lie in [0, {n}) (the examples), "
                             f"got {outside[0]}")
        return index

    def _run(self, kind, theta, batch, direction=None):
        batch = self._batch(batch)
        return self._evaluate(kind, theta, self._data.examples(batch), self.batch_size(batch),
                              direction)

    def _evaluate(self, kind, theta, examples, size, direction=None):
        """The program of ``kind`` for batches of ``size`` run on ``examples``; dask values
        computed."""
        name = kind if isinstance(kind, str) else kind[0]
        theta = self._theta(theta, f"Objective.{name}")
        program, directions = self._program(kind, size)
        feed = {**self.unflatten(theta), **examples}
        if direction is not None:
            parts = np.split(self._theta(direction, f"Objective.{name}", "v"), self._offsets)
            feed.update({d.name: x.reshape(d.shape) for d, x in zip(directions, parts)})
        self.counts[name] += 1
        self.cost += COST[name] * (size or 1) / (self.n_examples or 1)
        # Non-finite values are the callers' business (line searches reject them, minimize
        # raises NonFiniteError), so numpy's overflow warnings would only be noise.
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            return computed(program(feed))

    def _program(self, kind, size):
        key = (kind, size)
        if key not in self._programs:
            try:
                self._programs[key] = self._compile(kind, size)
            except GraphError as error:
                self._programs[key] = error
        entry = self._programs[key]
        if isinstance(entry, GraphError):
            raise entry
        return entry

    def _compile(self, kind, size):
        loss, output = self._graph_of_size(size)
        names = fresh_names([loss], "direction", len(self.params))
        directions = [var(n, p.shape, p.dtype) for n, p in zip(names, self.params)]
        if kind == "value":
            nodes = [loss]
        elif kind == "gradient":
            nodes = [loss, *grad(loss, self.params)]
        elif kind == "output":
            nodes = [self._require_output(output, "output()")]
        elif kind == "hvp":
            nodes = hvp(loss, self.params, directions)
        elif kind == "ggn_vp":
            nodes = ggn_vp(loss, self._require_output(output, "ggn_vp()"), self.params,
                           directions)
        else:
            nodes = inverse_hvp_graph(loss, self.params, directions, method=kind[1])
        return compile_program(nodes), directions

    @staticmethod
    def _require_output(output, what):
        if output is None:
            raise GraphError(f"Objective.{what} needs the model's output, but build() "
                             f"returned (loss, None) (or the objective came from from_graph); "
                             f"return (loss, output), or use curvature='hessian'")
        return output

    def _flat(self, arrays):
        return np.concatenate([np.asarray(a, dtype=self.dtype).ravel() for a in arrays])


def _parameters(params) -> list:
    """``params`` as a list of variables with distinct names (θ is fed by name)."""
    params = [params] if isinstance(params, Node) else list(params)
    if not params:
        raise ValueError("Objective: params is empty; pass the variables to optimize")
    for i, p in enumerate(params):
        if not (isinstance(p, Node) and p.is_var):
            raise TypeError(f"Objective: params must be variables (G.var), got params[{i}] = "
                            f"{shown(p)}")
    names = [p.name for p in params]
    twice = next((n for n in names if names.count(n) > 1), None)
    if twice:
        raise ValueError(f"Objective: the parameter name {twice} appears more than once")
    return params
