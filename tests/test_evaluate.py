"""evaluate.py: the metrics against hand-worked cases, and a smoke run of the orchestration."""
import math

import numpy as np
import pytest

import evaluate as ev

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
