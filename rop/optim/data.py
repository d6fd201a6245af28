"""The data of an Objective: numpy arrays held in memory, or dask arrays left where they are
(in chunks, on a cluster's workers when a dask.distributed Client is connected). On dask data
the full-data evaluations run as dask graphs, computed chunk-parallel; a mini-batch is
fetched into memory once and reused while it is the one asked for (the many curvature
products of one CG run read the same batch)."""

from __future__ import annotations

import math

import numpy as np

from graph.backends import is_dask
from graph.errors import DomainError, ShapeError


class Data:
    """Named arrays with one leading example axis, cast to ``dtype`` (the parameters')."""

    def __init__(self, data: dict, dtype):
        self.arrays = {name: _data_array(name, x, dtype) for name, x in data.items()}
        self.lazy = any(is_dask(x) for x in self.arrays.values())
        self._batch_key, self._batch = None, {}

    def examples(self, batch) -> dict:
        """{name: array} of the examples at the indices ``batch`` (None: all of them, left
        lazy for dask data; a batch of dask data is computed once, then reused)."""
        if batch is None:
            return dict(self.arrays)
        if not self.lazy:
            return {name: x[batch] for name, x in self.arrays.items()}
        key = batch.tobytes()
        if key != self._batch_key:
            import dask

            rows = dask.compute(*(x[batch] for x in self.arrays.values()))
            self._batch_key, self._batch = key, dict(zip(self.arrays, rows))
        return dict(self._batch)


def computed(values) -> list:
    """The values with dask arrays among them computed (together: one pass over the data)."""
    if not any(is_dask(v) for v in values):
        return values
    import dask

    return list(dask.compute(*values))


def _data_array(name, x, dtype):
    """One data array, checked: numeric, with a batch axis, finite (a NaN or an infinity
    in the data makes every loss on it NaN, found only when minimize stops). A dask array
    stays lazy; checking that it is finite costs one pass over it."""
    lazy = is_dask(x)
    try:
        array = x if lazy else np.asarray(x)
        if array.dtype.kind not in "biuf":
            raise TypeError(f"dtype {array.dtype}")
    except (TypeError, ValueError) as error:
        raise TypeError(f"Objective: data {name!r} is not a numeric array ({error})") from None
    if array.ndim == 0:
        raise ShapeError(f"Objective: data {name!r} is a scalar; data arrays need a leading "
                         f"batch axis, one entry per example")
    if lazy and any(math.isnan(d) for d in array.shape):
        raise ShapeError(f"Objective: data {name!r} is a dask array of unknown shape "
                         f"{array.shape}: call its compute_chunk_sizes() first")
    array = array.astype(dtype) if array.dtype != dtype else array
    bad = ~np.isfinite(array)
    count = int(bad.sum().compute() if lazy else bad.sum())
    if count:
        flat = np.argmax(bad.reshape(-1))  # the first True, on numpy or dask alike
        first = tuple(int(i) for i in np.unravel_index(int(flat), array.shape))
        raise DomainError(f"Objective: data {name!r} has {count} NaN or infinite entries, the "
                          f"first at index {first}")
    return array
