"""Layout: one way between structured parameters (a list of tensors) and flat vectors."""

from __future__ import annotations

import numpy as np

from graph import ops
from graph.errors import ShapeError
from graph.feed import as_feed_array
from graph.leaves import var
from graph.node import Node
from graph.traverse import fresh_names, restore


class Layout:
    """The tensors ``nodes`` (variables, usually) laid end to end in one flat vector, each
    raveled in C order; ``single`` says whether the caller gave one tensor or a list.

    >>> import graph as G
    >>> layout = Layout([G.var("W", (2, 2)), G.var("b", (2,))])
    >>> layout.pack([np.eye(2), [5.0, 6.0]])
    array([1., 0., 0., 1., 5., 6.])
    >>> [a.shape for a in layout.unpack(np.arange(6.0))]
    [(2, 2), (2,)]
    """

    def __init__(self, nodes, single: bool = False):
        self.nodes = list(nodes)
        self.single = single
        self.sizes = [n.size for n in self.nodes]
        self.size = int(sum(self.sizes))
        self.offsets = np.cumsum(self.sizes)[:-1]
        self.dtype = np.result_type(*(n.dtype for n in self.nodes), np.float16)

    def pack(self, arrays) -> np.ndarray:
        """One flat vector from arrays shaped like the nodes."""
        if not self.nodes:
            return np.zeros(0, self.dtype)
        return np.concatenate([np.asarray(a, dtype=self.dtype).ravel() for a in arrays])

    def unpack(self, flat) -> list:
        """Arrays shaped like the nodes from a flat vector of the layout's size."""
        flat = np.asarray(flat, dtype=self.dtype).ravel()
        if flat.size != self.size:
            raise ShapeError(f"expected a flat vector of {self.size} entries (the sizes "
                             f"{self.sizes} joined), got {flat.size}")
        return [part.reshape(n.shape) for n, part in zip(self.nodes, np.split(flat,
                                                                            self.offsets))]

    def split(self, flat: Node) -> list:
        """Nodes shaped like the layout's, read from a flat node (the graph-side unpack)."""
        parts, start = [], 0
        for n in self.nodes:
            piece = flat if len(self.nodes) == 1 else ops.getitem(
                flat, index=slice(start, start + n.size))
            parts.append(ops.reshape(piece, shape=n.shape))
            start += n.size
        return parts

    def named(self, flat) -> dict:
        """{name: array} of the nodes (variables) from a flat vector."""
        return {n.name: a for n, a in zip(self.nodes, self.unpack(flat))}

    def restore(self, values):
        """The caller's structure: the value for a single tensor, else the list."""
        return restore(values, self.single)

    def variables(self, stem: str, graph) -> list:
        """Fresh variables shaped like the nodes, with names ``graph`` does not use."""
        names = fresh_names(list(graph) + self.nodes, stem, len(self.nodes))
        return [var(name, n.shape, n.dtype) for name, n in zip(names, self.nodes)]

    def directions(self, v, caller: str) -> list:
        """``v`` (one direction, or a list of them for a list) checked against the shapes:
        arrays are converted, nodes kept; a mismatch names both shapes."""
        given = [v] if self.single or (len(self.nodes) == 1 and not isinstance(v, list)) \
            else list(v) if isinstance(v, (list, tuple)) else None
        if given is None or len(given) != len(self.nodes):
            raise ShapeError(f"{caller}: {len(self.nodes)} parameter tensors, so v must be a "
                             f"list of {len(self.nodes)} arrays shaped {self.shapes_text()}")
        out: list = []
        for n, d in zip(self.nodes, given):
            if type(d) is np.ndarray and d.shape == n.shape and d.dtype == self.dtype:
                out.append(d)  # already what the checks would make of it
                continue
            shape = d.shape if isinstance(d, Node) else np.shape(d)
            if tuple(shape) != n.shape:
                raise ShapeError(f"{caller}: a direction of shape {tuple(shape)} given for "
                                 f"{n.label()} of shape {n.shape}")
            out.append(d if isinstance(d, Node) else as_feed_array(
                var(n.name or "v", n.shape, self.dtype), d))
        return out

    def batch(self, v, caller: str) -> list:
        """A batch of directions: arrays shaped (k, *shape) for each tensor (a list for a
        list), with one k; a mismatch names the shapes expected."""
        given = [v] if self.single or (len(self.nodes) == 1 and not isinstance(v, list)) \
            else list(v)
        arrays = [np.asarray(d, dtype=self.dtype) for d in given]
        ks = {a.shape[0] if a.ndim else None for a in arrays}
        if len(arrays) != len(self.nodes) or len(ks) != 1 or any(
                a.shape[1:] != n.shape for a, n in zip(arrays, self.nodes)):
            raise ShapeError(f"{caller}: a batch of v's must be shaped (k, *shape) for the "
                             f"shapes {self.shapes_text()}, with one k; got "
                             f"{', '.join(str(a.shape) for a in arrays)}")
        return arrays

    def shapes_text(self) -> str:
        return ", ".join(str(n.shape) for n in self.nodes)
