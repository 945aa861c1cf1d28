"""Pure metrics (numpy only) of the evaluation: standard errors, Pareto fronts, hypervolume, smoothness,
disentanglement, CCA. No torch, no files: every function takes arrays and returns numbers.

  Standard error  se = sd / sqrt(n) (sample sd, ddof = 1); 0 for n = 1.
  Pareto      point i is dominated if some j is >= on every axis (after flipping minimized axes) and > on one;
              exact duplicates keep only their first occurrence.
  Hypervolume each axis is mapped to [0, 1] by FIXED bounds (toy oracle: [0, 4]), good = 1, so the reference
              point is the worst corner (helpfulness 0, verbosity 4) and HV in [0, 1] compares across methods:
                  HV = area( union_i [0, u_i] x [0, v_i] ),  u, v the normalized, good-is-up coordinates.
              HV's standard error: parametric bootstrap, each point redrawn from N(mean, se^2).
  Coverage    max - min over the non-dominated points, per axis, in score units.
  Smoothness  along a 1-D sweep alpha_1 < ... < alpha_P of one vector (others at 0), on its own attribute s:
                  Spearman rho(alpha, s) (average ranks for ties),  max_jump = max_i |s_{i+1} - s_i| / (max s - min s)
              (max_jump = 1/(P-1) for evenly spaced steps, 1 for a single step; 0 for a flat sweep).
  Disentanglement error (Ortiz-Jimenez et al. 2023), with pref_t(theta) = sign of the implicit margin on
  objective t's held-out pairs and dist = disagreement rate:
                  xi(a1, a2) = sum_{t : a_t != 0} E_{pairs of t} 1[ pref_t(theta0 + a_t tau_t) !=
                                                                  pref_t(theta0 + a1 tau1 + a2 tau2) ]
              Convention: a task with a_t = 0 is not asked for and contributes no term (theta0 has zero implicit
              margin, so there is no preference to preserve); hence xi(a1, 0) = xi(0, a2) = 0 exactly.
  CCA         canonical correlations (centred, ridge-regularized, Cholesky-whitened, each side first reduced to
              k principal components) between two paired sets of rows (X (N, p), Y (N, q)); its null (chance
              level) is the same with the rows of one side permuted.

    python -m pytest -q tests/test_metrics.py      # each metric against a hand-worked case
"""
import math

import numpy as np


# ----------------------------------------------------------------------------- standard error
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


# ----------------------------------------------------------------------------- Pareto front and hypervolume
def _goodness(points, maximize):
    """(N, D) points -> (N, D) with every axis oriented so that larger is better."""
    points = np.asarray(points, dtype=float)
    sign = np.where(np.asarray(maximize, dtype=bool), 1.0, -1.0)
    return points * sign


def pareto_mask(points, maximize):
    """(N,) bool: True for non-dominated points. points (N, D); maximize (D,) bools (False = minimize).

    j dominates i if q_j >= q_i on every axis and q_j > q_i on one (q = points with minimized axes negated).
    Exact duplicates are not dominated by each other; only the first of them is kept, so counts are deterministic."""
    q = _goodness(points, maximize)
    n = len(q)
    mask = np.ones(n, dtype=bool)
    for i in range(n):
        ge = np.all(q >= q[i], axis=1)
        gt = np.any(q > q[i], axis=1)
        same = np.all(q == q[i], axis=1)
        if np.any(ge & gt) or np.any(same[:i]):
            mask[i] = False
    return mask


def hypervolume_2d(points, ref, maximize, bounds=None):
    """Exact 2-D hypervolume: the area dominated by `points` (N, 2) and bounded by the reference point `ref` (2,).

    With bounds ((lo, hi), (lo, hi)) the area is divided by the box (hi - lo) per axis, so HV is a fraction of the
    bounded box in [0, 1] when ref is its worst corner. Points that are not strictly better than ref add nothing.
    Sweep: sort by the first good-is-up coordinate descending; each point adds x * (y - best y so far)."""
    points = np.asarray(points, dtype=float).reshape(-1, 2)
    q = _goodness(points, maximize) - _goodness(np.asarray(ref, dtype=float)[None], maximize)
    if bounds is not None:
        q = q / np.array([b[1] - b[0] for b in bounds], dtype=float)
    q = q[np.all(q > 0, axis=1) & np.all(np.isfinite(q), axis=1)]
    area, y_best = 0.0, 0.0
    for x, y in sorted(q.tolist(), key=lambda p: (-p[0], -p[1])):
        if y > y_best:
            area += x * (y - y_best)
            y_best = y
    return float(area)


def hypervolume_se(means, ses, ref, maximize, bounds=None, n_draws=200, seed=0):
    """Standard error of hypervolume_2d from the points' standard errors (N, 2): parametric bootstrap."""
    means, ses = np.asarray(means, dtype=float), np.nan_to_num(np.asarray(ses, dtype=float))
    rng = np.random.default_rng(seed)
    hv = [hypervolume_2d(means + ses * rng.standard_normal(means.shape), ref, maximize, bounds) for _ in range(n_draws)]
    return float(np.std(hv, ddof=1))


def coverage(points, maximize):
    """(D,) range max - min per axis over the non-dominated points."""
    points = np.asarray(points, dtype=float)
    front = points[pareto_mask(points, maximize)]
    return front.max(axis=0) - front.min(axis=0)


# ----------------------------------------------------------------------------- smoothness of a 1-D sweep
def rankdata(x):
    """(N,) ranks 1..N, tied values get the average of their ranks."""
    x = np.asarray(x, dtype=float)
    order = np.argsort(x, kind="mergesort")
    ranks = np.empty(len(x))
    sx = x[order]
    i = 0
    while i < len(x):
        j = i
        while j + 1 < len(x) and sx[j + 1] == sx[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1  # positions i..j (0-based) -> average rank
        i = j + 1
    return ranks


def spearman(x, y):
    """Spearman rho = Pearson correlation of the average ranks; nan when either side is constant."""
    rx, ry = rankdata(x), rankdata(y)
    rx, ry = rx - rx.mean(), ry - ry.mean()
    den = math.sqrt(float((rx ** 2).sum() * (ry ** 2).sum()))
    return float((rx * ry).sum() / den) if den > 0 else float("nan")


def max_jump(scores):
    """Largest |neighbour difference| over the sweep's range max - min; 0 for a flat sweep. scores (P,) in alpha order."""
    s = np.asarray(scores, dtype=float)
    span = s.max() - s.min()
    return float(np.abs(np.diff(s)).max() / span) if span > 0 else 0.0


# ----------------------------------------------------------------------------- disentanglement
def disentanglement_error(margins_single_1, margins_single_2, margins_joint_1, margins_joint_2, alpha_1, alpha_2):
    """xi(a1, a2) = sum_{t: a_t != 0} mean over objective t's pairs of 1[(single_t > 0) != (joint_t > 0)].

    margins_single_t (N_t,): implicit margins at theta0 + a_t tau_t on objective t's pairs;
    margins_joint_t (N_t,): at theta0 + a1 tau1 + a2 tau2 on the same pairs. A task with a_t = 0 is not asked
    for (theta0 has zero margin: no preference to preserve), so it contributes no term. Range [0, 2]."""
    xi = 0.0
    for alpha, single, joint in ((alpha_1, margins_single_1, margins_joint_1), (alpha_2, margins_single_2, margins_joint_2)):
        if alpha != 0:
            single, joint = np.asarray(single), np.asarray(joint)
            xi += float(np.mean((single > 0) != (joint > 0)))
    return xi


# ----------------------------------------------------------------------------- CCA and its null
def _pca(X, k):
    """Centred X (N, p) -> its first k principal-component scores (N, min(k, p, N-1))."""
    U, S, _ = np.linalg.svd(X, full_matrices=False)
    k = min(k, X.shape[1], max(1, X.shape[0] - 1))
    return U[:, :k] * S[:k]


def cca(X, Y, k=None, ridge=1e-3):
    """Canonical correlations, descending, (min(p, q),) after PCA. X (N, p), Y (N, q) paired rows.

    Centre; optionally keep the first k principal components of each side (so N >> dims); C = cov + ridge *
    mean(diag cov) I; whiten with Cholesky factors L (C = L L^T): the correlations are the singular values
    of L_x^{-1} C_xy L_y^{-T}, clipped to [0, 1]."""
    X = np.asarray(X, dtype=float).reshape(len(X), -1)
    Y = np.asarray(Y, dtype=float).reshape(len(Y), -1)
    if len(X) != len(Y) or len(X) < 3:
        raise ValueError(f"cca: need the same number (>= 3) of rows on both sides, got {len(X)} and {len(Y)}")
    X, Y = X - X.mean(0), Y - Y.mean(0)
    if k is not None:
        X, Y = _pca(X, k), _pca(Y, k)
    n = len(X) - 1

    def chol(C):
        scale = float(np.mean(np.diag(C))) or 1.0
        return np.linalg.cholesky(C + ridge * scale * np.eye(len(C)))

    Lx, Ly = chol(X.T @ X / n), chol(Y.T @ Y / n)
    T = np.linalg.solve(Lx, X.T @ Y / n)       # L_x^{-1} C_xy
    T = np.linalg.solve(Ly, T.T).T             # ... L_y^{-T}
    return np.clip(np.linalg.svd(T, compute_uv=False), 0.0, 1.0)


def cca_report(shifts, labels, k, seed=0):
    """Leading canonical correlations (up to 3): shift_a vs shift_b, each shift vs the (N, A) labels, and their
    chance levels (the same with the rows of one side permuted). shifts: {name: (N, d)}, at most two names."""
    rng = np.random.default_rng(seed)
    names = list(shifts)
    perm = rng.permutation(len(labels))
    rep = {}
    if len(names) == 2:
        a, b = shifts[names[0]], shifts[names[1]]
        rep["shift_vs_shift"] = cca(a, b, k)[:3].tolist()
        rep["shift_vs_shift_chance"] = cca(a, b[perm], k)[:3].tolist()
    for n in names:
        rep[f"{n}_vs_labels"] = cca(shifts[n], labels, k)[:3].tolist()
        rep[f"{n}_vs_labels_chance"] = cca(shifts[n], labels[perm], k)[:3].tolist()
    return rep
