"""Pure metrics (numpy only): standard errors, Pareto fronts, hypervolume, smoothness, disentanglement, CCA.

(Being filled in: the pure functions move here from evaluate.py.)
"""
import math

import numpy as np


def standard_error(x, axis=-1):
    """sd / sqrt(n) along `axis` (sample sd, ddof = 1); 0 where n = 1."""
    x = np.asarray(x, dtype=float)
    n = x.shape[axis]
    if n < 2:
        return np.zeros(np.delete(x.shape, axis % x.ndim)) if x.ndim > 1 else 0.0
    return x.std(axis=axis, ddof=1) / math.sqrt(n)


def mean_se(values):
    """(mean, standard error sd / sqrt(n), n) of a list; se = 0 for n = 1, nan for n = 0."""
    v = np.asarray(values, dtype=float)
    if len(v) == 0:
        return float("nan"), float("nan"), 0
    return float(v.mean()), float(standard_error(v)), len(v)
