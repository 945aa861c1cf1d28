"""metrics.py: every metric against a hand-worked case or an independent computation (numpy only, milliseconds)."""
import math

import numpy as np
import pytest

import metrics as M

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


def test_phase2_api_shapes():
    rng = np.random.default_rng(0)
    d = rng.standard_normal(64) + 0.5
    res = M.paired_bootstrap(lambda s, p: d[p].mean(), 64, n_boot=200)
    assert set(res) == {"diff", "lo", "hi", "se", "n_boot"} and res["n_boot"] == 200
    assert res["diff"] == pytest.approx(d.mean()) and res["lo"] < res["diff"] < res["hi"]
    X, Y = rng.standard_normal((40, 5)), rng.standard_normal((40, 4))
    assert M.principal_angles(X, Y, 3).shape == (3,)
    assert M.cca_null(X, Y, 3, n_perm=7).shape == (7, 3)
    assert M.residualize(X, Y).shape == X.shape
    assert len(M.row_cosine(X, X)) == 2
    assert M.verdict(0.1, 0.2) == "higher"
