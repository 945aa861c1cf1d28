"""metrics.py: every metric against a hand-worked case or an independent computation (numpy only, milliseconds)."""
import math
import time

import numpy as np
import pytest

from measure import metrics as M

MAX_MIN = (True, False)  # maximize helpfulness (x), minimize verbosity (y)
BOUNDS = ((0, 4), (0, 4))


def test_pareto_mask_minimized_axis_and_duplicates():
    pts = [(2, 1), (4, 3), (1, 0), (2, 1), (1, 2)]
    # (1, 2) is dominated by (2, 1): more helpful AND less verbose. Index 3 duplicates index 0: first one kept.
    assert M.pareto_mask(pts, MAX_MIN).tolist() == [True, True, True, False, False]
    # both maximized: (4, 3) is >= every other point on both axes -> it alone is non-dominated
    assert M.pareto_mask(pts, (True, True)).tolist() == [False, True, False, False, False]


def test_hypervolume_hand_worked():
    pts = [(2, 1), (4, 3), (1, 0), (2, 1), (1, 2)]
    ref = (0, 4)  # worst corner: helpfulness 0, verbosity 4
    # good-is-up coordinates (x - 0, 4 - y): (2, 3), (4, 1), (1, 4), dup, (1, 2).
    # sorted by x desc: (4, 1) adds 4 * 1 = 4; (2, 3) adds 2 * (3 - 1) = 4; (1, 4) adds 1 * (4 - 3) = 1; (1, 2) adds 0.
    assert M.hypervolume_2d(pts, ref, MAX_MIN) == pytest.approx(9.0)
    # normalized by the 4 x 4 box: 9 / 16
    assert M.hypervolume_2d(pts, ref, MAX_MIN, BOUNDS) == pytest.approx(9 / 16)
    # a point worse than ref on one axis adds nothing; the ideal point fills the box
    assert M.hypervolume_2d([(3, 4.5)], ref, MAX_MIN, BOUNDS) == 0.0
    assert M.hypervolume_2d([(4, 0)], ref, MAX_MIN, BOUNDS) == pytest.approx(1.0)
    # a single point: rectangle (3 - 0) * (4 - 1) / 16
    assert M.hypervolume_2d([(3, 1)], ref, MAX_MIN, BOUNDS) == pytest.approx(9 / 16)
    # order does not matter
    assert M.hypervolume_2d(pts[::-1], ref, MAX_MIN) == pytest.approx(9.0)


def test_hypervolume_se_and_coverage():
    pts = np.array([(2, 1), (4, 3), (1, 0)], dtype=float)
    assert M.hypervolume_se(pts, np.zeros_like(pts), (0, 4), MAX_MIN, BOUNDS) == 0.0
    assert M.hypervolume_se(pts, np.full_like(pts, 0.1), (0, 4), MAX_MIN, BOUNDS) > 0
    # front x in {2, 4, 1} -> 3; y in {1, 3, 0} -> 3; the dominated (1, 2) does not widen anything
    assert M.coverage(np.vstack([pts, [(1, 2)]]), MAX_MIN).tolist() == [3.0, 3.0]


def test_spearman_hand_ranks_with_ties():
    x, y = [1, 2, 3, 4, 5], [10, 20, 20, 40, 30]
    assert M.rankdata(y).tolist() == [1, 2.5, 2.5, 5, 4]
    # centred ranks dx = (-2,-1,0,1,2), dy = (-2,-.5,-.5,2,1): sum dx dy = 8.5, sum dx^2 = 10, sum dy^2 = 9.5
    assert M.spearman(x, y) == pytest.approx(8.5 / math.sqrt(10 * 9.5))
    assert M.spearman(x, [5, 4, 3, 2, 1]) == pytest.approx(-1.0)
    assert M.spearman(x, [1, 8, 27, 64, 125]) == pytest.approx(1.0)  # monotone, not linear
    assert math.isnan(M.spearman(x, [3, 3, 3, 3, 3]))


def test_max_jump():
    assert M.max_jump([0, 1, 1, 4]) == pytest.approx(3 / 4)       # diffs 1, 0, 3 over range 4
    assert M.max_jump([0, 1, 2, 3, 4]) == pytest.approx(1 / 4)    # evenly spaced: 1 / (P - 1)
    assert M.max_jump([2, 2, 0, 0]) == pytest.approx(1.0)         # one step does everything
    assert M.max_jump([1, 1, 1]) == 0.0


def test_disentanglement_error():
    rng = np.random.default_rng(0)
    s1, s2 = rng.standard_normal(50), rng.standard_normal(40)
    j1, j2 = -s1, -s2  # composition flips every preference
    assert M.disentanglement_error(s1, s2, j1, j2, 0.0, 1.0) == pytest.approx(1.0)  # only task 2 counts
    assert M.disentanglement_error(s1, s2, j1, j2, 1.0, 0.0) == pytest.approx(1.0)
    assert M.disentanglement_error(s1, s2, j1, j2, 1.0, -1.0) == pytest.approx(2.0)
    assert M.disentanglement_error(s1, s2, s1, s2, 1.0, -1.0) == 0.0  # composition preserves everything
    # xi(a1, 0) = 0 exactly when the joint model IS the single model (a2 = 0)
    assert M.disentanglement_error(s1, s2, s1, rng.standard_normal(40), 1.0, 0.0) == 0.0
    # flip 10 of 50 pairs of task 1 and 4 of 40 of task 2: 10/50 + 4/40
    j1 = s1.copy(); j1[:10] *= -1
    j2 = s2.copy(); j2[:4] *= -1
    assert M.disentanglement_error(s1, s2, j1, j2, 0.5, 2.0) == pytest.approx(0.2 + 0.1)


def test_cca_recovers_known_correlation():
    rng = np.random.default_rng(0)
    n = 4000
    z = rng.standard_normal(n)
    # X1 = z + e, Y1 = z + e', var e = var e' = 1: corr(X1, Y1) = 1 / (1 + 1) = 0.5; other columns independent
    X = np.column_stack([z + rng.standard_normal(n), rng.standard_normal((n, 3))])
    Y = np.column_stack([rng.standard_normal((n, 2)), z + rng.standard_normal(n)])
    # mix the columns: CCA is invariant to invertible linear maps of each side
    X, Y = X @ rng.standard_normal((4, 4)), Y @ rng.standard_normal((3, 3))
    rho = M.cca(X, Y)
    assert rho.shape == (3,)
    assert rho[0] == pytest.approx(0.5, abs=0.04)
    assert rho[1] < 0.08
    # independent data: ~0 (chance ~ sqrt(p q / n))
    assert M.cca(rng.standard_normal((n, 4)), rng.standard_normal((n, 3)))[0] < 0.08
    # one column each: |Pearson r|
    a, b = X[:, 0], Y[:, 0]
    assert M.cca(a[:, None], b[:, None], ridge=0)[0] == pytest.approx(abs(np.corrcoef(a, b)[0, 1]), abs=1e-9)
    # PCA to k dims first keeps the shared direction when it carries the most variance
    big = np.column_stack([5 * z + rng.standard_normal(n), rng.standard_normal((n, 10))])
    assert M.cca(big, (z + 0.1 * rng.standard_normal(n))[:, None], k=2)[0] > 0.95


def test_standard_error_and_mean_se():
    x = [1.0, 2.0, 4.0, 7.0]  # mean 3.5, sample var ((2.5^2 + 1.5^2 + 0.5^2 + 3.5^2) / 3) = 7, se = sqrt(7 / 4)
    assert M.standard_error(x) == pytest.approx(math.sqrt(7 / 4))
    assert M.mean_se(x) == pytest.approx((3.5, math.sqrt(7 / 4), 4))
    assert M.mean_se([5.0]) == (5.0, 0.0, 1)
    m, se, n = M.mean_se([])
    assert math.isnan(m) and math.isnan(se) and n == 0
    # along an axis: one se per row
    np.testing.assert_allclose(M.standard_error(np.array([x, [0.0, 0.0, 0.0, 2.0]]), axis=1),
                               [math.sqrt(7 / 4), math.sqrt(1 / 4)])


def test_cca_report_self_and_chance():
    rng = np.random.default_rng(0)
    n = 400
    a = rng.standard_normal((n, 5))
    labels = np.column_stack([a[:, 0] + 0.1 * rng.standard_normal(n), rng.standard_normal(n)])
    rep = M.cca_report({"x": a, "y": a @ rng.standard_normal((5, 5))}, labels, k=3, seed=0)
    assert set(rep) == {"shift_vs_shift", "shift_vs_shift_chance", "x_vs_labels", "x_vs_labels_chance",
                        "y_vs_labels", "y_vs_labels_chance"}
    assert rep["shift_vs_shift"][0] > 0.99  # an invertible map of the same rows (ridge keeps it just below 1)
    assert rep["shift_vs_shift_chance"][0] < 0.3                      # rows permuted: chance level
    # only a[:, 0] drives labels[:, 0], and PCA to 3 of 5 isotropic dims may drop it: compare with full rank
    full = M.cca_report({"x": a}, labels, k=None, seed=0)
    assert full["x_vs_labels"][0] > 0.99 and full["x_vs_labels_chance"][0] < 0.3
    assert "shift_vs_shift" not in full



# ----------------------------------------------------------------------------- paired bootstrap and verdicts
N = 128


def _centred(x):
    return x - x.mean()


def test_paired_bootstrap_known_difference():
    rng = np.random.default_rng(1)
    # per-prompt difference a_i - b_i = 0.3 + e_i, e centred so the full-sample difference is exactly 0.3
    e = _centred(0.4 * rng.standard_normal(N))
    u = rng.standard_normal(N)                       # difficulty of prompt i, shared by both methods
    a, b = u + 0.3 + e, u
    res = M.paired_bootstrap(lambda s, p: a[p].mean() - b[p].mean(), N)
    assert set(res) == {"diff", "lo", "hi", "se", "n_boot", "p"} and res["n_boot"] == 2000 and res["p"] < 1e-6
    assert res["diff"] == pytest.approx(0.3)
    assert res["lo"] < 0.3 < res["hi"] and res["lo"] > 0
    assert M.verdict(res["lo"], res["hi"], "A higher", "A lower") == "A higher"
    # the bootstrap sd of a mean is the plug-in sd / sqrt(N) (ddof 0); 2000 resamples give it to ~2%
    assert res["se"] == pytest.approx(e.std() / math.sqrt(N), rel=0.08)
    # percentile CI of a near-normal mean: diff -+ 1.96 se
    assert res["lo"] == pytest.approx(0.3 - 1.96 * res["se"], abs=0.3 * res["se"])
    assert res["hi"] == pytest.approx(0.3 + 1.96 * res["se"], abs=0.3 * res["se"])
    # the sign flips with the order of the methods
    rev = M.paired_bootstrap(lambda s, p: b[p].mean() - a[p].mean(), N)
    assert rev["diff"] == pytest.approx(-0.3) and rev["hi"] < 0
    assert M.verdict(rev["lo"], rev["hi"], "A higher", "A lower") == "A lower"


def test_paired_bootstrap_identical_methods():
    rng = np.random.default_rng(2)
    a = rng.standard_normal(N)
    res = M.paired_bootstrap(lambda s, p: a[p].mean() - a[p].mean(), N)
    assert (res["diff"], res["lo"], res["hi"], res["se"]) == (0.0, 0.0, 0.0, 0.0)
    assert M.verdict(res["lo"], res["hi"]) == "no difference detected"
    # same distribution, noisy: the per-prompt differences average exactly 0, the CI covers it
    d = _centred(rng.standard_normal(N))
    res = M.paired_bootstrap(lambda s, p: d[p].mean(), N, seed=5)
    assert res["lo"] < 0 < res["hi"] and res["se"] > 0
    assert M.verdict(res["lo"], res["hi"]) == "no difference detected"


def test_pairing_narrows_the_ci():
    rng = np.random.default_rng(3)
    u = 2.0 * rng.standard_normal(N)                  # large shared per-prompt noise
    a = u + 0.05 + 0.05 * rng.standard_normal(N)      # small constant difference
    b = u + 0.05 * rng.standard_normal(N)
    paired = M.paired_bootstrap(lambda s, p: a[p].mean() - b[p].mean(), N)
    # the unpaired bootstrap, by hand: each method's prompts resampled independently
    r = np.random.default_rng(0)
    unpaired = np.array([a[r.integers(0, N, N)].mean() - b[r.integers(0, N, N)].mean() for _ in range(2000)])
    lo_u, hi_u = np.percentile(unpaired, [2.5, 97.5])
    assert paired["hi"] - paired["lo"] < (hi_u - lo_u) / 10
    assert paired["lo"] > 0 and lo_u < 0 < hi_u        # only the paired comparison detects the difference
    assert paired["se"] == pytest.approx((a - b).std() / math.sqrt(N), rel=0.08)


def test_paired_bootstrap_resamples_seeds_then_prompts():
    seen = []

    def record(s, p):
        seen.append((s.copy(), p.copy()))
        return 0.0

    M.paired_bootstrap(record, 7, n_seeds=3, n_boot=50)
    full, boot = seen[0], seen[1:]
    assert full[0].tolist() == [0, 1, 2] and full[1].tolist() == list(range(7))
    assert len(boot) == 50
    assert all(s.shape == (3,) and p.shape == (7,) for s, p in boot)
    assert all(s.dtype.kind == "i" and 0 <= s.min() and s.max() < 3 and 0 <= p.min() and p.max() < 7 for s, p in boot)
    assert any(len(set(p.tolist())) < 7 for _, p in boot)        # with replacement: repeats happen
    # a stat of the seeds alone: mean of v over resampled seeds; bootstrap sd = plug-in sd(v) / sqrt(S)
    v = np.array([0.0, 1.0, 2.0, 3.0])
    res = M.paired_bootstrap(lambda s, p: v[s].mean(), N, n_seeds=4)
    assert res["diff"] == pytest.approx(1.5)
    assert res["se"] == pytest.approx(v.std() / 2, rel=0.08)
    assert 0 <= res["lo"] < 1.5 < res["hi"] <= 3
    # one seed: the seed level has nothing to resample
    assert M.paired_bootstrap(lambda s, p: v[s].mean(), N, n_seeds=1)["se"] == 0.0


def test_paired_bootstrap_deterministic_fast_and_guarded():
    rng = np.random.default_rng(4)
    d = rng.standard_normal((3, N)) + 0.1           # (seeds, prompts) per-prompt differences
    stat = lambda s, p: d[np.ix_(s, p)].mean()
    t0 = time.perf_counter()
    r1 = M.paired_bootstrap(stat, N, n_seeds=3, seed=7)
    assert time.perf_counter() - t0 < 1.0          # 2000 resamples of a cheap stat over 128 prompts
    assert M.paired_bootstrap(stat, N, n_seeds=3, seed=7) == r1
    assert M.paired_bootstrap(stat, N, n_seeds=3, seed=8)["lo"] != r1["lo"]
    # a stat undefined on some resamples (nan) is left out and counted
    res = M.paired_bootstrap(lambda s, p: float("nan") if p[0] == 0 else d[0, p].mean(), N, n_boot=500)
    assert 400 < res["n_boot"] < 500 and np.isfinite([res["lo"], res["hi"], res["se"]]).all()
    for bad in (dict(n_prompts=0), dict(n_prompts=N, n_seeds=0), dict(n_prompts=N, n_boot=1),
                dict(n_prompts=2.5)):
        with pytest.raises(ValueError, match="paired_bootstrap"):
            M.paired_bootstrap(stat, **bad)


def test_verdict():
    assert M.verdict(0.01, 0.2) == "higher"
    assert M.verdict(-0.3, -0.01, "more", "less") == "less"
    assert M.verdict(-0.1, 0.2) == "no difference detected"
    assert M.verdict(0.0, 0.2) == "no difference detected"      # a CI touching 0 does not exclude it
    assert M.verdict(float("nan"), float("nan")) == "no difference detected"


# ----------------------------------------------------------------------------- principal angles
def _orthonormal_centred(rng, n, m):
    """(n, m) orthonormal columns, each orthogonal to the ones vector (so centring leaves them alone)."""
    Q, _ = np.linalg.qr(np.column_stack([np.ones(n), rng.standard_normal((n, m))]))
    return Q[:, 1:]


def test_principal_angles_known_columns():
    rng = np.random.default_rng(5)
    n, t1, t2 = 60, math.radians(20), math.radians(60)
    q = _orthonormal_centred(rng, n, 6)
    W = np.linalg.qr(rng.standard_normal((7, 3)))[0].T   # (3, 7) orthonormal rows: singular values stay as given
    # A: strong q0, q1 and a weak q4 that k = 2 must ignore; B: q0 turned 20 deg towards q2, q1 60 deg towards q3
    A = np.column_stack([q[:, 0], q[:, 1], q[:, 4]]) @ np.diag([3.0, 2.0, 0.1]) @ W + 5.0
    B_cols = [math.cos(t1) * q[:, 0] + math.sin(t1) * q[:, 2], math.cos(t2) * q[:, 1] + math.sin(t2) * q[:, 3], q[:, 5]]
    B = np.column_stack(B_cols) @ np.diag([1.0, 4.0, 0.2]) @ np.linalg.qr(rng.standard_normal((4, 3)))[0].T
    np.testing.assert_allclose(M.principal_angles(A, B, 2), [math.cos(t1), math.cos(t2)], atol=1e-10)
    # the spans are what matter: scaling, sign and a shift of B change nothing
    np.testing.assert_allclose(M.principal_angles(A, -3 * B + 1, 2), [math.cos(t1), math.cos(t2)], atol=1e-10)
    assert M.principal_angles(A, A, 2) == pytest.approx([1.0, 1.0])
    # columns-space angles are the canonical correlations of the k principal components
    X, Y = rng.standard_normal((50, 6)), rng.standard_normal((50, 4))
    np.testing.assert_allclose(M.principal_angles(X, Y, 3), M.cca(X, Y, 3, ridge=0), atol=1e-10)


def test_principal_angles_known_rows():
    rng = np.random.default_rng(6)
    n, p, t1, t2 = 40, 8, math.radians(10), math.radians(45)
    V = np.linalg.qr(rng.standard_normal((p, 4)))[0]               # feature directions v0..v3
    U = _orthonormal_centred(rng, n, 4)
    A = U[:, :2] @ np.diag([5.0, 2.0]) @ V[:, :2].T
    B_dirs = np.column_stack([math.cos(t1) * V[:, 0] + math.sin(t1) * V[:, 2],
                              math.cos(t2) * V[:, 1] + math.sin(t2) * V[:, 3]])
    B = U[:, 2:] @ np.diag([1.0, 3.0]) @ B_dirs.T                  # other prompts move, along nearby directions
    np.testing.assert_allclose(M.principal_angles(A, B, 2, space="rows"), [math.cos(t1), math.cos(t2)], atol=1e-10)
    # B's rows are orthogonal to A's in R^N: the columns view sees no shared span at all
    np.testing.assert_allclose(M.principal_angles(A, B, 2), [0.0, 0.0], atol=1e-10)
    # an invertible map of one side keeps its column span (CCA-like, all 1) but turns its row directions
    X = rng.standard_normal((n, p))
    Mx = rng.standard_normal((p, p))
    assert M.principal_angles(X, X @ Mx, p) == pytest.approx(np.ones(p))
    assert M.principal_angles(X, X @ Mx, 2, space="rows")[0] < 0.99


def test_principal_angles_refuses_bad_k_and_shapes():
    X = np.random.default_rng(7).standard_normal((10, 4))
    with pytest.raises(ValueError, match="k must be in"):
        M.principal_angles(X, X, 5)
    with pytest.raises(ValueError, match="same feature dim"):
        M.principal_angles(X, X[:, :3], 2, space="rows")
    with pytest.raises(ValueError, match="same number"):
        M.principal_angles(X, X[:9], 2)


# ----------------------------------------------------------------------------- CCA null
def test_cca_null_matches_direct_permutations():
    rng = np.random.default_rng(8)
    X, Y = rng.standard_normal((50, 6)), rng.standard_normal((50, 5))
    null = M.cca_null(X, Y, 4, n_perm=20, seed=3)
    assert null.shape == (20, 4)
    np.testing.assert_array_equal(null, M.cca_null(X, Y, 4, n_perm=20, seed=3))
    assert not np.array_equal(null, M.cca_null(X, Y, 4, n_perm=20, seed=4))
    assert np.all(np.diff(null, axis=1) <= 1e-12) and np.all((0 <= null) & (null <= 1))
    perms = np.random.default_rng(3)
    direct = np.array([M.cca(X, Y[perms.permutation(50)], 4) for _ in range(20)])
    np.testing.assert_allclose(null, direct, atol=1e-10)


def test_cca_null_calibrated_for_independent_and_exceeded_for_dependent():
    n, p = 128, 8
    # independent X, Y: the observed leading correlation is one more draw of the null, its rank uniform
    ranks, above = [], 0
    for s in range(30):
        rng = np.random.default_rng(100 + s)
        X, Y = rng.standard_normal((n, p)), rng.standard_normal((n, p))
        obs, null = M.cca(X, Y, p)[0], M.cca_null(X, Y, p, seed=s)[:, 0]
        ranks.append(np.mean(null < obs))
        above += obs > np.percentile(null, 95)
    assert 0.35 < np.mean(ranks) < 0.65 and above <= 5       # ~1.5 of 30 expected above the 95th percentile
    # the null's leading correlation sits just below the random-matrix edge of independent data,
    # r+^2 = (sqrt(g1 (1 - g2)) + sqrt(g2 (1 - g1)))^2 with g = p / n, so r+ = 2 sqrt(g (1 - g)) = 0.48 here
    # (the issue measured 0.43, 95th percentile 0.50, with N = 128, k = 8)
    g = p / n
    edge = 2 * math.sqrt(g * (1 - g))
    assert 0.35 < np.median(null) < edge + 0.03
    # strongly dependent: far above the null
    Y = X @ rng.standard_normal((p, p)) + 0.5 * rng.standard_normal((n, p))
    null = M.cca_null(X, Y, p)
    assert M.cca(X, Y, p)[0] > null[:, 0].max() and M.cca(X, Y, p)[0] > np.percentile(null[:, 0], 95)


# ----------------------------------------------------------------------------- residuals and row cosines
def test_residualize():
    # hand-worked: x on [1, z], z = 0..3: slope 14 / 5 = 2.8, intercept 4 - 2.8 * 1.5 = -0.2
    x, z = np.array([1.0, 2.0, 3.0, 10.0]), np.arange(4.0)
    np.testing.assert_allclose(M.residualize(x, z), [1.2, -0.6, -2.4, 1.8], atol=1e-12)
    rng = np.random.default_rng(9)
    Z = rng.standard_normal((30, 2))
    D = np.column_stack([np.ones(30), Z])
    # an exactly affine dependence is removed completely
    np.testing.assert_allclose(M.residualize(1.5 + Z @ rng.standard_normal((2, 3)), Z), 0.0, atol=1e-12)
    # what is orthogonal to [1, Z] (projected out by QR, independently of lstsq) survives unchanged
    Q = np.linalg.qr(D)[0]
    E = rng.standard_normal((30, 3))
    E -= Q @ (Q.T @ E)
    R = M.residualize(E + 2.0 - Z @ rng.standard_normal((2, 3)), Z)
    np.testing.assert_allclose(R, E, atol=1e-12)
    np.testing.assert_allclose(D.T @ M.residualize(rng.standard_normal((30, 3)), Z), 0.0, atol=1e-12)
    with pytest.raises(ValueError, match="same rows"):
        M.residualize(E, Z[:29])


def test_row_cosine_hand_worked():
    A = np.array([[1.0, 0.0], [1.0, 1.0], [3.0, 4.0]])
    B = np.array([[0.0, 1.0], [2.0, 2.0], [4.0, 3.0]])
    c = np.array([0.0, 1.0, 24 / 25])                 # orthogonal, parallel, (12 + 12) / (5 * 5)
    m = c.sum() / 3
    se = math.sqrt(((c - m) ** 2).sum() / 2 / 3)
    assert M.row_cosine(A, B) == pytest.approx((m, se))
    # per-row positive scales change nothing; a zero row has no direction and is left out
    assert M.row_cosine(A * [[2.0], [0.5], [7.0]], B) == pytest.approx((m, se))
    assert M.row_cosine(np.vstack([A, [0, 0]]), np.vstack([B, [1, 1]])) == pytest.approx((m, se))
    assert M.row_cosine(A, -B) == pytest.approx((-m, se))
    # rows of more dims are flattened: (N, T, d)
    assert M.row_cosine(A.reshape(3, 1, 2), B.reshape(3, 2, 1)) == pytest.approx((m, se))
    with pytest.raises(ValueError, match="same shape"):
        M.row_cosine(A, B[:2])


# ----------------------------------------------------------------------------- multiplicity: Holm over a family
def test_holm_by_hand_and_the_chance_count():
    assert M.holm([0.01, 0.04, 0.03, float("nan"), 0.005]) == pytest.approx([0.03, 0.06, 0.06, float("nan"), 0.02],
                                                                              nan_ok=True)
    assert M.holm([0.5]) == [0.5] and M.holm([]) == []
    expected, (lo, hi) = M.chance_count(60)
    assert expected == pytest.approx(3.0) and (lo, hi) == (0, 7)  # Binomial(60, 0.05): P(X <= 7) >= 0.975 > P(X <= 6)


def test_studentized_p_is_students_t():
    """Against Student t tables: t = 2 with 5 df, t = 3 with 40 df (the se is the bootstrap's, scaled by sqrt(n/(n-1)))."""
    assert M.studentized_p(2.0 * math.sqrt(6 / 5), 1.0, 6) == pytest.approx(0.10194, abs=1e-5)
    assert M.studentized_p(3.0 * math.sqrt(41 / 40), 1.0, 41) == pytest.approx(0.00463, abs=1e-5)
    assert M.studentized_p(0.0, 1.0, 10) == 1.0 and M.studentized_p(0.5, 0.0, 10) == 0.0
    r = M.paired_bootstrap(lambda s, p: float(np.arange(8.0)[p].mean() - 3.0), 8, n_boot=200)
    assert r["p"] == M.studentized_p(r["diff"], r["se"], 8)


def _families(rng, effect, repeats, m=60, n=40, n_boot=500):
    """Holm-adjusted claim verdicts of `repeats` families of m paired comparisons on n prompts each, every one a
    mean difference with true value `effect` (sd 1), through the rule the reports use: the paired bootstrap's se,
    studentized_p, holm, claim_verdict."""
    from measure.report import family_verdicts
    out = []
    for _ in range(repeats):
        d = rng.normal(effect, 1.0, size=(m, n))
        boot = d[:, rng.integers(0, n, size=(n_boot, n))].mean(-1)  # (m, n_boot): paired_bootstrap's resamples
        lo, hi = np.percentile(boot, [2.5, 97.5], axis=1)
        comps = [{"quantity": "hv", "better": "higher", "diff": float(x), "lo": float(a), "hi": float(b),
                  "p": M.studentized_p(float(x), float(s), n)}
                 for x, a, b, s in zip(d.mean(1), lo, hi, boot.std(1, ddof=1))]
        out.append([adjusted for _, adjusted, _ in family_verdicts(comps)])
    return out


def test_a_family_of_sixty_null_comparisons_stays_not_detectable():
    """Nothing differs: raw 95% CIs take a side about 3 times in 60, the Holm-adjusted rule in at most 5% of families."""
    fams = _families(np.random.default_rng(0), 0.0, repeats=400)
    clean = sum(all(v == "not detectable" for v in f) for f in fams)
    assert clean >= 0.95 * len(fams), clean


def test_a_large_true_effect_still_holds_after_adjustment():
    fams = _families(np.random.default_rng(1), 1.0, repeats=5)
    assert all(v == "holds" for f in fams for v in f)
