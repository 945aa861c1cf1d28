"""evaluate.py: the metrics against hand-worked cases, and a smoke run of the orchestration."""
import math

import numpy as np
import pytest

import evaluate as ev

MAX_MIN = (True, False)  # maximize helpfulness (x), minimize verbosity (y)
BOUNDS = ((0, 4), (0, 4))


def test_pareto_mask_minimized_axis_and_duplicates():
    pts = [(2, 1), (4, 3), (1, 0), (2, 1), (1, 2)]
    # (1, 2) is dominated by (2, 1): more helpful AND less verbose. Index 3 duplicates index 0: first one kept.
    assert ev.pareto_mask(pts, MAX_MIN).tolist() == [True, True, True, False, False]
    # both maximized: (4, 3) is >= every other point on both axes -> it alone is non-dominated
    assert ev.pareto_mask(pts, (True, True)).tolist() == [False, True, False, False, False]


def test_hypervolume_hand_worked():
    pts = [(2, 1), (4, 3), (1, 0), (2, 1), (1, 2)]
    ref = (0, 4)  # worst corner: helpfulness 0, verbosity 4
    # good-is-up coordinates (x - 0, 4 - y): (2, 3), (4, 1), (1, 4), dup, (1, 2).
    # sorted by x desc: (4, 1) adds 4 * 1 = 4; (2, 3) adds 2 * (3 - 1) = 4; (1, 4) adds 1 * (4 - 3) = 1; (1, 2) adds 0.
    assert ev.hypervolume_2d(pts, ref, MAX_MIN) == pytest.approx(9.0)
    # normalized by the 4 x 4 box: 9 / 16
    assert ev.hypervolume_2d(pts, ref, MAX_MIN, BOUNDS) == pytest.approx(9 / 16)
    # a point worse than ref on one axis adds nothing; the ideal point fills the box
    assert ev.hypervolume_2d([(3, 4.5)], ref, MAX_MIN, BOUNDS) == 0.0
    assert ev.hypervolume_2d([(4, 0)], ref, MAX_MIN, BOUNDS) == pytest.approx(1.0)
    # a single point: rectangle (3 - 0) * (4 - 1) / 16
    assert ev.hypervolume_2d([(3, 1)], ref, MAX_MIN, BOUNDS) == pytest.approx(9 / 16)
    # order does not matter
    assert ev.hypervolume_2d(pts[::-1], ref, MAX_MIN) == pytest.approx(9.0)


def test_hypervolume_se_and_coverage():
    pts = np.array([(2, 1), (4, 3), (1, 0)], dtype=float)
    assert ev.hypervolume_se(pts, np.zeros_like(pts), (0, 4), MAX_MIN, BOUNDS) == 0.0
    assert ev.hypervolume_se(pts, np.full_like(pts, 0.1), (0, 4), MAX_MIN, BOUNDS) > 0
    # front x in {2, 4, 1} -> 3; y in {1, 3, 0} -> 3; the dominated (1, 2) does not widen anything
    assert ev.coverage(np.vstack([pts, [(1, 2)]]), MAX_MIN).tolist() == [3.0, 3.0]


def test_spearman_hand_ranks_with_ties():
    x, y = [1, 2, 3, 4, 5], [10, 20, 20, 40, 30]
    assert ev.rankdata(y).tolist() == [1, 2.5, 2.5, 5, 4]
    # centred ranks dx = (-2,-1,0,1,2), dy = (-2,-.5,-.5,2,1): sum dx dy = 8.5, sum dx^2 = 10, sum dy^2 = 9.5
    assert ev.spearman(x, y) == pytest.approx(8.5 / math.sqrt(10 * 9.5))
    assert ev.spearman(x, [5, 4, 3, 2, 1]) == pytest.approx(-1.0)
    assert ev.spearman(x, [1, 8, 27, 64, 125]) == pytest.approx(1.0)  # monotone, not linear
    assert math.isnan(ev.spearman(x, [3, 3, 3, 3, 3]))


def test_max_jump():
    assert ev.max_jump([0, 1, 1, 4]) == pytest.approx(3 / 4)       # diffs 1, 0, 3 over range 4
    assert ev.max_jump([0, 1, 2, 3, 4]) == pytest.approx(1 / 4)    # evenly spaced: 1 / (P - 1)
    assert ev.max_jump([2, 2, 0, 0]) == pytest.approx(1.0)         # one step does everything
    assert ev.max_jump([1, 1, 1]) == 0.0


def test_disentanglement_error():
    rng = np.random.default_rng(0)
    s1, s2 = rng.standard_normal(50), rng.standard_normal(40)
    j1, j2 = -s1, -s2  # composition flips every preference
    assert ev.disentanglement_error(s1, s2, j1, j2, 0.0, 1.0) == pytest.approx(1.0)  # only task 2 counts
    assert ev.disentanglement_error(s1, s2, j1, j2, 1.0, 0.0) == pytest.approx(1.0)
    assert ev.disentanglement_error(s1, s2, j1, j2, 1.0, -1.0) == pytest.approx(2.0)
    assert ev.disentanglement_error(s1, s2, s1, s2, 1.0, -1.0) == 0.0  # composition preserves everything
    # xi(a1, 0) = 0 exactly when the joint model IS the single model (a2 = 0)
    assert ev.disentanglement_error(s1, s2, s1, rng.standard_normal(40), 1.0, 0.0) == 0.0
    # flip 10 of 50 pairs of task 1 and 4 of 40 of task 2: 10/50 + 4/40
    j1 = s1.copy(); j1[:10] *= -1
    j2 = s2.copy(); j2[:4] *= -1
    assert ev.disentanglement_error(s1, s2, j1, j2, 0.5, 2.0) == pytest.approx(0.2 + 0.1)


def test_cca_recovers_known_correlation():
    rng = np.random.default_rng(0)
    n = 4000
    z = rng.standard_normal(n)
    # X1 = z + e, Y1 = z + e', var e = var e' = 1: corr(X1, Y1) = 1 / (1 + 1) = 0.5; other columns independent
    X = np.column_stack([z + rng.standard_normal(n), rng.standard_normal((n, 3))])
    Y = np.column_stack([rng.standard_normal((n, 2)), z + rng.standard_normal(n)])
    # mix the columns: CCA is invariant to invertible linear maps of each side
    X, Y = X @ rng.standard_normal((4, 4)), Y @ rng.standard_normal((3, 3))
    rho = ev.cca(X, Y)
    assert rho.shape == (3,)
    assert rho[0] == pytest.approx(0.5, abs=0.04)
    assert rho[1] < 0.08
    # independent data: ~0 (chance ~ sqrt(p q / n))
    assert ev.cca(rng.standard_normal((n, 4)), rng.standard_normal((n, 3)))[0] < 0.08
    # one column each: |Pearson r|
    a, b = X[:, 0], Y[:, 0]
    assert ev.cca(a[:, None], b[:, None], ridge=0)[0] == pytest.approx(abs(np.corrcoef(a, b)[0, 1]), abs=1e-9)
    # PCA to k dims first keeps the shared direction when it carries the most variance
    big = np.column_stack([5 * z + rng.standard_normal(n), rng.standard_normal((n, 10))])
    assert ev.cca(big, (z + 0.1 * rng.standard_normal(n))[:, None], k=2)[0] > 0.95


def test_compare_sentence():
    assert "more" in ev.compare(0.6, 0.01, 0.4, 0.01, "A", "B")
    assert "less" in ev.compare(0.4, 0.01, 0.6, 0.01, "A", "B")
    assert "matches" in ev.compare(0.5, 0.05, 0.52, 0.05, "A", "B")


def test_end_to_end_smoke(tmp_path):
    """evaluate.main on a tiny random base + random task vectors: every output file is written, numbers are sane."""
    import json

    import torch

    import linearize
    import toyworld
    from conftest import build_tokenizer, make_tiny_model

    tok = build_tokenizer(toyworld.corpus(n_prompts=40, seed=0), vocab_size=400)
    base = tmp_path / "runs" / "base"
    model = make_tiny_model("gpt2", vocab_size=len(tok), n_layer=1, d=16)
    model.save_pretrained(base)
    tok.save_pretrained(base)
    fp = linearize.fingerprint(linearize.load_model(str(base)))
    g = torch.Generator().manual_seed(0)
    for i, name in enumerate(["ts-helpfulness", "ts-verbosity", "dpo-helpfulness", "dpo-verbosity", "scal-0", "scal-1"]):
        tau = linearize.TaskVector({n: 0.05 * torch.randn(p.shape, generator=g) for n, p in model.named_parameters()})
        (tmp_path / "runs" / name).mkdir()
        meta = {"base_fingerprint": fp, "mode": "tangent" if name.startswith("ts") else "standard"}
        if name.startswith("scal"):
            w = float(name[5:])
            meta["weights"] = f"helpfulness={w:g},verbosity={w - 1:g}"
        tau.save(str(tmp_path / "runs" / name / "task_vector.safetensors"), meta)
    out = tmp_path / "results"
    ev.main(["--runs", str(tmp_path / "runs"), "--out", str(out), "--alphas-a", "0,1", "--alphas-b=-1,0",
             "--control=-1,1,3", "--n-prompts", "3", "--max-new-tokens", "4", "--n-pairs", "4", "--n-cca", "8",
             "--cca-k", "2", "--max-length", "96"])
    for f in ("sweep.jsonl", "summary.json", "summary.md", "pareto.png", "control.png", "disentanglement.png", "cca.png"):
        assert (out / f).stat().st_size > 0, f
    summary = json.loads((out / "summary.json").read_text())
    methods = summary["methods"]
    assert set(methods) == {"TS-DPO", "DPO task arithmetic", "TS-DPO (nonlinear)", "scalarized DPO", "base"}
    for m in methods.values():
        assert 0.0 <= m["hv"] <= 1.0
    xi = np.asarray(summary["xi"]["-"]["TS-DPO"])  # rows alpha_a (0, 1), columns alpha_b (-1, 0)
    assert xi.shape == (2, 2) and xi[0, 1] == 0.0 and xi[0, 0] == 0.0 and xi[1, 1] == 0.0  # a zero alpha: no term
    rows = [json.loads(line) for line in (out / "sweep.jsonl").read_text().splitlines()]
    # 4 grid points + 2 extra control points (+-1 alone) per composed method, 2 scalarized, 1 base
    assert len(rows) == 3 * 6 + 2 + 1
    assert all(r["scores"]["helpfulness"]["n"] == 3 for r in rows)
    assert "What the numbers say" in (out / "summary.md").read_text()


def test_no_runs_fails_clearly(tmp_path):
    (tmp_path / "runs").mkdir()
    with pytest.raises(SystemExit, match="no base model"):
        ev.main(["--runs", str(tmp_path / "runs"), "--out", str(tmp_path / "results")])


def test_find_runs_and_seed_aggregation(tmp_path):
    for name in ("base", "ts-helpfulness", "ts-helpfulness-s1", "dpo-helpfulness-s1", "scal-0.5"):
        (tmp_path / name).mkdir()
        if name != "base":
            (tmp_path / name / "task_vector.safetensors").write_bytes(b"x")
    assert set(ev.find_runs(tmp_path, None)) == {"ts-helpfulness", "scal-0.5"}
    assert ev.find_runs(tmp_path, 1) == {"ts-helpfulness": tmp_path / "ts-helpfulness-s1",
                                          "dpo-helpfulness": tmp_path / "dpo-helpfulness-s1"}
    assert ev.find_runs(tmp_path, 0)["ts-helpfulness"] == tmp_path / "ts-helpfulness"  # seed 0 = unsuffixed
    per_seed = [{"methods": {"TS-DPO": {"hv": v, "n_front": 3}}} for v in (0.2, 0.4, 0.6)]
    agg = ev.aggregate(per_seed, None)["TS-DPO"]
    assert agg["hv"] == 0.2 and agg["n_seeds"] == 3  # the first seed's value, plus mean and sd over seeds
    assert agg["hv_seeds_mean"] == pytest.approx(0.4) and agg["hv_seeds_sd"] == pytest.approx(0.2)


def test_linear_hidden_shift_is_the_derivative(tiny_tokenizer):
    """pooled_hidden(linear=True) = J_h tau: equals the nonlinear shift / eps for a small eps * tau."""
    import torch

    import linearize
    from conftest import make_tiny_model
    model = make_tiny_model("gpt2", vocab_size=len(tiny_tokenizer))
    rows = [{"prompt": "how do i care for a cat ?", "response": " cats need water ."},
            {"prompt": "tell me about the moon .", "response": " the moon goes around the earth ."}]
    g = torch.Generator().manual_seed(1)
    tau = linearize.TaskVector({n: torch.randn(p.shape, generator=g) for n, p in model.named_parameters()})
    eps = 1e-3
    lin = ev.pooled_hidden(model, tiny_tokenizer, rows, tau, linear=True)
    fd = ev.pooled_hidden(model, tiny_tokenizer, rows, eps * tau, linear=False) / eps
    assert lin.shape == (2, 32)
    np.testing.assert_allclose(lin, fd, rtol=0.05, atol=0.05 * np.abs(lin).max())
