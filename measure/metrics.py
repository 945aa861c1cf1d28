"""Pure metrics (numpy only) of the evaluation: standard errors, Pareto fronts, hypervolume, smoothness,
disentanglement, CCA and its null, principal angles, residuals, row cosines, the paired bootstrap and its
verdict. No torch, no files: every function takes arrays and returns numbers.

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
              level) is the same with the rows of one side permuted:
                  null[m] = cca(X, Y[pi_m], k),  pi_m a uniform random permutation, m = 1..n_perm;
              the leading correlation is "above chance" when it exceeds the null's 95th percentile per index.
  Principal angles  between the spans of the top-k principal directions of centred A (N, p) and B (N, q):
                  Q_A = first k left singular vectors of A - mean(A) (N, k), likewise Q_B;
                  cos theta_i = sigma_i(Q_A^T Q_B),  i = 1..k, descending (1 = a shared direction).
              space="columns" (the contract) compares the spans in R^N (which prompts move together); it equals
              cca(A, B, k, ridge=0) exactly. space="rows" compares the top-k right singular vectors in R^p
              (the directions in feature space along which the rows move; needs p = q): unlike CCA it is NOT
              invariant to a linear map of one side, so it says whether two shifts share a direction.
  Residualize R = X - D beta,  D = [1, Z] (N, 1 + r),  beta = argmin ||X - D beta||_F (least squares): the part
              of X that no affine function of the input features Z explains (D^T R = 0).
  Row cosine  c_i = <A_i, B_i> / (|A_i| |B_i|) per row (rows flattened); (mean c, standard error of c); rows
              with a zero norm have no direction and are left out.
  Paired bootstrap  for a method DIFFERENCE stat(seeds, prompts) over S seeds and N prompts, b = 1..n_boot:
                  s*_b ~ Uniform{0..S-1}^S  (seeds with replacement), then p*_b ~ Uniform{0..N-1}^N (prompts),
                  D*_b = stat(s*_b, p*_b)   (the SAME indices for both methods: paired, so per-prompt noise the
                                             methods share cancels, most of all under common random numbers),
                  diff = stat(0..S-1, 0..N-1),  CI95 = [q_2.5(D*), q_97.5(D*)] (percentile),  se = sd(D*).
              Verdict: "higher" if lo > 0, "lower" if hi < 0, else "no difference detected" (never from a sign).
              stat is called n_boot + 1 times; 2000 resamples of a mean over 128 prompts take milliseconds. An
              expensive stat (hypervolume over a grid of points per resample) may use fewer, n_boot = 200-500:
              the CI ends are then rougher (their Monte Carlo error grows like 1 / sqrt(n_boot)).

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


def mean_present(values):
    """Mean of the values that are not None (a metric a run did not record); nan when none is."""
    xs = [x for x in values if x is not None]
    return float(np.mean(xs)) if xs else float("nan")


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


def _rows(X):
    """X as a float (N, features) array: a 1-D X is one feature, more dims are flattened per row."""
    X = np.asarray(X, dtype=float)
    return X.reshape(len(X), -1)


def _whiten(X, k, ridge):
    """Centred X (N, p), optionally cut to k principal components, times L^{-T} (L L^T = cov + ridge I, scaled):
    returns W (N, p') with W^T W / (N - 1) = L^{-1} cov L^{-T} (= I without ridge)."""
    X = X - X.mean(0)
    if k is not None:
        X = _pca(X, k)
    C = X.T @ X / (len(X) - 1)
    scale = float(np.mean(np.diag(C))) or 1.0
    L = np.linalg.cholesky(C + ridge * scale * np.eye(len(C)))
    return np.linalg.solve(L, X.T).T


def _check_pair(X, Y, what):
    if len(X) != len(Y) or len(X) < 3:
        raise ValueError(f"{what}: need the same number (>= 3) of rows on both sides, got {len(X)} and {len(Y)}")


def cca(X, Y, k=None, ridge=1e-3):
    """Canonical correlations, descending, (min(p, q),) after PCA. X (N, p), Y (N, q) paired rows.

    Centre; optionally keep the first k principal components of each side (so N >> dims); C = cov + ridge *
    mean(diag cov) I; whiten with Cholesky factors L (C = L L^T): the correlations are the singular values
    of L_x^{-1} C_xy L_y^{-T}, clipped to [0, 1]."""
    X, Y = _rows(X), _rows(Y)
    _check_pair(X, Y, "cca")
    Wx, Wy = _whiten(X, k, ridge), _whiten(Y, k, ridge)
    return np.clip(np.linalg.svd(Wx.T @ Wy / (len(X) - 1), compute_uv=False), 0.0, 1.0)


def cca_null(X, Y, k, n_perm=100, seed=0, ridge=1e-3):
    """(n_perm, m) canonical spectra of X against Y with its rows permuted (m = len(cca(X, Y, k)), = k when both
    sides have >= k dims and N > k): row m is cca(X, Y[pi_m], k) for the m-th permutation of
    np.random.default_rng(seed). Permuting rows changes only the cross-covariance, so both sides are whitened
    once and each permutation costs one small SVD. The report uses np.percentile(null, 95, axis=0)."""
    X, Y = _rows(X), _rows(Y)
    _check_pair(X, Y, "cca_null")
    if n_perm < 1:
        raise ValueError(f"cca_null: n_perm must be >= 1, got {n_perm}")
    Wx, Wy = _whiten(X, k, ridge), _whiten(Y, k, ridge)
    rng = np.random.default_rng(seed)
    # Y[perm] centred and whitened is Wy[perm]: centring, PCA and covariance do not see the row order
    out = [np.linalg.svd(Wx.T @ Wy[rng.permutation(len(Y))] / (len(X) - 1), compute_uv=False)
           for _ in range(n_perm)]
    return np.clip(np.array(out), 0.0, 1.0)


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


# ----------------------------------------------------------------------------- subspaces, residuals, row cosines
def principal_angles(A, B, k, space="columns"):
    """(k,) cosines of the principal angles, descending in [0, 1], between the top-k principal directions of
    centred A (N, p) and B (N, q).

    space="columns": spans in R^N of the first k left singular vectors (equals cca(A, B, k, ridge=0));
    space="rows": spans in R^p of the first k right singular vectors (feature directions; needs p == q).
    Cosines: singular values of Q_A^T Q_B. k must be <= the rank available (min(N - 1, p, q))."""
    A, B = _rows(A), _rows(B)
    _check_pair(A, B, "principal_angles")
    if space not in ("columns", "rows"):
        raise ValueError(f"principal_angles: space must be 'columns' or 'rows', got {space!r}")
    if space == "rows" and A.shape[1] != B.shape[1]:
        raise ValueError(f"principal_angles: space='rows' needs the same feature dim, "
                         f"got {A.shape[1]} and {B.shape[1]}")
    kmax = min(len(A) - 1, A.shape[1], B.shape[1])
    if not 1 <= k <= kmax:
        raise ValueError(f"principal_angles: k must be in [1, {kmax}] (min(N - 1, p, q)), got {k}")

    def basis(X):
        U, _, Vt = np.linalg.svd(X - X.mean(0), full_matrices=False)
        return U[:, :k] if space == "columns" else Vt[:k].T

    return np.clip(np.linalg.svd(basis(A).T @ basis(B), compute_uv=False), 0.0, 1.0)


def residualize(X, Z):
    """X (N,) or (N, p) minus its least-squares fit on [1, Z] (Z (N,) or (N, r)); same shape as X.
    The residual is orthogonal to the constant and to every column of Z (partialling out input features)."""
    X = np.asarray(X, dtype=float)
    Z = _rows(Z)
    if len(X) != len(Z):
        raise ValueError(f"residualize: X has {len(X)} rows but Z has {len(Z)}; pass features of the same rows")
    D = np.column_stack([np.ones(len(Z)), Z])
    beta = np.linalg.lstsq(D, X.reshape(len(X), -1), rcond=None)[0]
    return (X.reshape(len(X), -1) - D @ beta).reshape(X.shape)


def row_cosine(A, B):
    """(mean, se) over rows of cos(A_i, B_i); A, B (N, ...) flattened per row. Rows where either side is zero
    have no direction and are left out; (nan, nan) when none is left."""
    A, B = _rows(A), _rows(B)
    if A.shape != B.shape:
        raise ValueError(f"row_cosine: A and B must have the same shape, got {A.shape} and {B.shape}")
    na, nb = np.linalg.norm(A, axis=1), np.linalg.norm(B, axis=1)
    ok = (na > 0) & (nb > 0)
    c = (A[ok] * B[ok]).sum(1) / (na[ok] * nb[ok])
    m, se, _ = mean_se(c)
    return m, se


# ----------------------------------------------------------------------------- paired bootstrap and verdicts
def paired_bootstrap(stat, n_prompts, n_seeds=1, n_boot=2000, seed=0):
    """Paired bootstrap CI of a method difference -> {"diff", "lo", "hi", "se", "n_boot"}.

    stat(seed_idx (S,) int, prompt_idx (N,) int) -> float: the difference (method a - method b) computed on the
    seeds and prompts at those indices (repeats allowed), the SAME indices for both methods. Each resample
    draws seeds with replacement, then prompts with replacement (one prompt resample shared by every seed, as
    the held-out prompts are shared). diff = stat(all, all); lo, hi = 2.5 / 97.5 percentiles of the resampled
    stats; se = their sd. Resamples where stat is not finite (e.g. a constant Spearman) are left out and
    "n_boot" counts those kept. Deterministic given seed. Expensive stats may pass a smaller n_boot."""
    for name, v, lo in (("n_prompts", n_prompts, 1), ("n_seeds", n_seeds, 1), ("n_boot", n_boot, 2)):
        if int(v) != v or v < lo:
            raise ValueError(f"paired_bootstrap: {name} must be an integer >= {lo}, got {v}")
    rng = np.random.default_rng(seed)
    seeds = rng.integers(0, n_seeds, size=(n_boot, n_seeds))     # all indices in one draw: the loop only calls stat
    prompts = rng.integers(0, n_prompts, size=(n_boot, n_prompts))
    diff = float(stat(np.arange(n_seeds), np.arange(n_prompts)))
    boot = np.array([stat(s, p) for s, p in zip(seeds, prompts)], dtype=float)
    boot = boot[np.isfinite(boot)]
    if len(boot) < 2:
        return {"diff": diff, "lo": float("nan"), "hi": float("nan"), "se": float("nan"), "n_boot": len(boot),
                "p": float("nan")}
    lo, hi = np.percentile(boot, [2.5, 97.5])
    se = float(boot.std(ddof=1))
    return {"diff": diff, "lo": float(lo), "hi": float(hi), "se": se, "n_boot": len(boot),
            "p": studentized_p(diff, se, n_prompts)}


def studentized_p(diff, se, n):
    """Two-sided p of "the difference is 0" from the paired bootstrap: t = diff / (se sqrt(n / (n - 1))), Student t
    with n - 1 degrees of freedom (n = prompts or pairs, the resampled unit).

    Why not the bootstrap's own tail count: a family's adjusted threshold is far out (0.05 / 60 = 0.0008), where
    resampled means of n = 40 are too light-tailed; in a seeded simulation of 60 null tests, Holm on tail counts
    took a side in 9% of families, Holm on this p in about 5%, as Holm promises (tests/test_metrics.py)."""
    if not (math.isfinite(diff) and math.isfinite(se)) or n < 2:
        return float("nan")
    if se == 0:
        return 1.0 if diff == 0 else 0.0
    t = diff / (se * math.sqrt(n / (n - 1)))
    return _betainc_regularized((n - 1) / 2, 0.5, (n - 1) / ((n - 1) + t * t))


def _betainc_regularized(a, b, x):
    """I_x(a, b) by its continued fraction (Lentz); P(|T_df| >= t) = I_{df / (df + t^2)}(df / 2, 1 / 2)."""
    if x <= 0 or x >= 1:
        return float(x >= 1)
    if x > (a + 1) / (a + b + 2):  # the fraction converges fast on this side only
        return 1.0 - _betainc_regularized(b, a, 1 - x)
    front = math.exp(a * math.log(x) + b * math.log1p(-x) + math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)) / a
    tiny, f, c, d = 1e-300, 1.0, 1.0, 0.0
    for i in range(400):
        m = i // 2
        num = 1.0 if i == 0 else (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)) if i % 2 == 0
                                   else -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)))
        d = 1.0 + num * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + num / c if abs(1.0 + num / c) > tiny else tiny
        f *= c * d
        if abs(1.0 - c * d) < 1e-12:
            break
    return front * (f - 1.0)


def holm(pvalues):
    """Holm's step-down adjustment of one family's p-values (same order; nan stays nan and is not counted).

    Sorted p_(1) <= ... <= p_(m): adjusted p_(i) = max over j <= i of min(1, (m - j + 1) p_(j)). Rejecting where the
    adjusted p < 0.05 keeps the chance of any false "holds" or "fails" in the family at most 5%."""
    p = np.asarray(pvalues, dtype=float)
    ok = np.flatnonzero(np.isfinite(p))
    out = np.full(len(p), np.nan)
    running = 0.0
    for rank, i in enumerate(ok[np.argsort(p[ok], kind="stable")]):
        running = max(running, min(1.0, (len(ok) - rank) * p[i]))
        out[i] = running
    return out.tolist()


def chance_count(m, alpha=0.05):
    """What chance alone gives in m independent tests at level alpha: (expected m alpha, (lo, hi)), the central 95%
    range of Binomial(m, alpha)."""
    pmf = [math.comb(m, k) * alpha ** k * (1 - alpha) ** (m - k) for k in range(m + 1)]
    cdf = np.cumsum(pmf)
    return m * alpha, (int(np.searchsorted(cdf, 0.025)), int(np.searchsorted(cdf, 0.975)))


def verdict(lo, hi, higher="higher", lower="lower"):
    """`higher` if the CI [lo, hi] lies above 0, `lower` if below, else "no difference detected" (also for nan)."""
    if lo > 0:
        return higher
    if hi < 0:
        return lower
    return "no difference detected"
