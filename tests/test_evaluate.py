"""evaluate.py and report.py: runs found by config.json, the whole experiment end to end on a tiny base (common
random numbers, per-prompt scores, KL calibration, equal-budget points, every comparison with a CI and a verdict),
verdicts read off CIs and never off signs, J_h tau against finite differences, bad flags / files as one line.
The metrics themselves are tested in test_metrics.py."""
import json
import re
import types

import numpy as np
import pytest
import torch

import evaluate as ev
import linearize
from plumbing import models
from measure import report
from plumbing import cli, run_folder
from conftest import make_tiny_model, once_per_run, tiny_base

TINY = ["--alphas-a", "0,1", "--alphas-b=-1,0", "--control=-1,1,3", "--n-prompts", "3", "--n-samples", "2",
        "--max-new-tokens", "4", "--n-pairs", "4", "--n-cca", "8", "--cca-k", "2", "--max-length", "96",
        "--n-boot", "50"]
VERDICTS = ("higher", "lower", "no difference detected")


def fake_run(folder, mode, objective=None, weights=None, seed=0, tau=None, fingerprint="-"):
    """A finished run as train_tangent.py leaves it: config.json + task_vector.safetensors (random tau or stub)."""
    folder.mkdir(parents=True)
    cfg = {"mode": mode, "objective": objective, "weights": weights, "seed": seed, "finished": True}
    (folder / "config.json").write_text(json.dumps(cfg))
    if tau is None:
        (folder / "task_vector.safetensors").write_bytes(b"stub")
    else:
        tau.save(str(folder / "task_vector.safetensors"), {"base_fingerprint": fingerprint, "mode": mode,
                                                            "objective": objective or "", "weights": weights or ""})
    return folder


@pytest.fixture
def one_thread():
    """Tensors this small run faster on one thread (a second one only adds synchronization, and much more so on a
    busy machine); the suite's setting is restored after."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def evaluate_tiny(tmp):
    """evaluate.main --calibrate kl on a tiny random base + random vectors in folders with arbitrary names."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as one_thread (a module-scoped fixture cannot use a function-scoped one)
    model = tiny_base(tmp / "runs" / "base")
    fp = linearize.fingerprint(models.load_model(str(tmp / "runs" / "base")))
    g = torch.Generator().manual_seed(0)
    for i, (mode, obj, w, scale) in enumerate([("tangent", "helpfulness", None, 0.2), ("tangent", "verbosity", None, 0.1),
                                               ("standard", "helpfulness", None, 0.05), ("standard", "verbosity", None, 0.05),
                                               ("standard", None, "helpfulness=0,verbosity=-1", 0.05)]):
        tau = linearize.TaskVector({n: scale * torch.randn(p.shape, generator=g) for n, p in model.named_parameters()})
        fake_run(tmp / "runs" / f"run{i}", mode, obj, w, tau=tau, fingerprint=fp)
    try:
        ev.main(["--runs", str(tmp / "runs"), "--out", str(tmp / "results"), "--calibrate", "kl", *TINY])
    finally:
        torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
    """evaluate_tiny's results, made once per test run (its tests may run on both workers): conftest.once_per_run."""
    out = once_per_run(tmp_path_factory, "evaluated", evaluate_tiny) / "results"
    rows = [json.loads(line) for line in (out / "sweep.jsonl").read_text().splitlines()]
    return out, json.loads((out / "summary.json").read_text()), rows, (out / "summary.md").read_text()


def test_end_to_end_outputs(evaluated):
    out, summary, rows, md = evaluated
    for f in report.OUTPUTS:
        assert (out / f).stat().st_size > 0, f
    methods = summary["methods"]
    assert set(methods) == {"TS-DPO", "DPO task arithmetic", "TS-DPO (nonlinear)", "scalarized DPO", "base"}
    assert all(0.0 <= m["hv"] <= 1.0 for m in methods.values())
    assert summary["hv_ideal"] > 0 and methods["TS-DPO"]["hv_rel_ideal"] == pytest.approx(methods["TS-DPO"]["hv"] / summary["hv_ideal"])
    xi = np.asarray(summary["xi"]["-"]["TS-DPO"]["all"])  # rows alpha_a (0, 1), columns alpha_b (-1, 0)
    assert xi.shape == (2, 2) and xi[0, 1] == xi[0, 0] == xi[1, 1] == 0.0  # a zero alpha: no term
    assert methods["TS-DPO"]["xi"] == pytest.approx(xi[1, 0])  # the mean over cells with both alphas != 0
    # points per composed method: 4 grid + 2 more of the control sweeps + (0, 1) alone + 2 equal-budget points
    # (w = 0 and w = 1, unless they fall on a point already there); 2 scalarized runs; 1 base
    n = {name: sum(r["method"] == name for r in rows) for name in methods}
    assert n["scalarized DPO"] == 2 and n["base"] == 1 and all(7 <= n[x] <= 9 for x in report.COMPOSED)
    assert [(r["w"], r["weights"]) for r in rows if r["method"] == "scalarized DPO"] == [
        (0.0, "helpfulness=0,verbosity=-1"), (1.0, "helpfulness=1,verbosity=0")]
    vec = summary["per_seed"]["-"]["vectors"]
    assert set(vec["DPO task arithmetic/helpfulness"]["gap"]) == {"0.5", "1", "2"}
    assert set(summary["per_seed"]["-"]["cosines"]) >= {"helpfulness: TS-DPO vs DPO task arithmetic", "TS-DPO: helpfulness vs verbosity"}
    cca = summary["per_seed"]["-"]["cca"]["TS-DPO"]
    assert len(cca["shift_vs_shift"]["spectrum"]) == len(cca["shift_vs_shift"]["null95"]) == 2
    assert summary["runs"]["-"]["tangent/helpfulness"].endswith("run0")


def test_every_comparison_has_a_ci_and_a_verdict(evaluated):
    """Each line of the comparison table: a difference, a 95% CI that contains it, a verdict read off the CI."""
    _, summary, _, md = evaluated
    table = md.split("## Paired comparisons")[1].split("\n## ")[0]
    lines = [x for x in table.splitlines() if x.startswith("| ") and " − " in x.split("|")[1] and "A − B" not in x]
    assert len(lines) == len(summary["comparisons"]) >= 20
    for line in lines:
        cells = [c.strip() for c in line.strip("|").split("|")]
        lo, hi = map(float, re.fullmatch(r"\[(\S+), (\S+)\]", cells[6]).groups())
        if lo == lo:  # nan: a quantity undefined here (e.g. Spearman of constant scores) detects nothing
            assert lo <= float(cells[5]) + 1e-3 and float(cells[5]) - 1e-3 <= hi, line
        if lo == hi or (cells[1].startswith("Spearman") and "degenerate" in cells[8]):  # a statistic that cannot move
            assert cells[8] == cells[10] == "degenerate", line
            continue
        assert cells[8] == ("higher" if lo > 0 else "lower" if hi < 0 else "no difference detected"), line
        assert cells[10] in (cells[8], "no difference detected"), line  # Holm can only take a side away
    quantities = {c["quantity"] for c in summary["comparisons"]}
    assert {"hv", "hv_eq", "xi", "xi_ctrl", "spearman_helpfulness", "max_jump_verbosity", "acc_ctrl_helpfulness"} <= quantities
    assert "HV standard error of one method difference" in md
    assert "chance alone would give about" in md  # the family's raw count against what chance gives


def test_per_prompt_scores_and_common_random_numbers(evaluated):
    """sweep.jsonl keeps per-prompt scores (mean over samples); alpha = 0 of every method reproduces the base's
    per-prompt scores exactly (every point samples prompt i, sample j from the same stream)."""
    _, _, rows, _ = evaluated
    base = next(r for r in rows if r["method"] == "base")
    for r in rows:
        for attr in ("helpfulness", "verbosity", "well_formed"):
            assert len(r["per_prompt"][attr]) == 3
            assert np.mean(r["per_prompt"][attr]) == pytest.approx(r["scores"][attr]["mean"], abs=1e-6)
    zeros = [r for r in rows if r.get("alphas") and not any(r["alphas"].values()) and r["method"] != "base"]
    assert {r["method"] for r in zeros} == set(report.COMPOSED)
    for r in zeros:
        assert r["per_prompt"] == base["per_prompt"], r["method"]
        assert r["kl"] == 0.0


def test_calibrate_kl_equal_budget(evaluated):
    """--calibrate kl: every vector alone at alpha = 1 spends the target KL; each equal-budget point spends its
    scalarized run's KL."""
    _, summary, rows, _ = evaluated
    target = summary["per_seed"]["-"]["kl_target"]
    raw = [v["kl_at_1_raw"] for v in summary["per_seed"]["-"]["vectors"].values()]
    assert target == pytest.approx(float(np.median(raw))) and max(raw) > 1.5 * min(raw)  # scales had to differ
    for name in report.COMPOSED:
        for unit in ({"helpfulness": 1.0, "verbosity": 0.0}, {"helpfulness": 0.0, "verbosity": 1.0}):
            r = next(r for r in rows if r["method"] == name and r.get("alphas") == unit)
            assert r["kl"] == pytest.approx(target, rel=ev.KL_RTOL * 1.01), (name, unit)
    scal = {r["w"]: r["kl"] for r in rows if r["method"] == "scalarized DPO"}
    for name in report.COMPOSED:
        eq = [r for r in rows if r["method"] == name and "eq" in r["sweeps"]]
        assert sorted(r["kl"] for r in eq) == pytest.approx(sorted(scal.values()), rel=ev.KL_RTOL * 1.01)


def constructed(shift, noise, n_seeds=2, n=40):
    """per_seed results of two composed methods on a 2 x 2 grid whose scores differ by `shift` plus noise."""
    rng = np.random.default_rng(0)
    points = [(0.0, -1.0), (0.0, 0.0), (1.0, -1.0), (1.0, 0.0), (-1.0, 0.0), (0.0, 1.0)]
    idx = {"grid": [0, 1, 2, 3], "control_h": [4, 1, 3], "control_v": [0, 1, 5], "unit_h": [3], "unit_v": [5], "eq": []}
    margins = rng.standard_normal((6, 2 * n))
    per_seed = []
    for s in range(n_seeds):
        base = {x: rng.uniform(1, 3, (6, n)) for x in ("h", "v")}
        method = lambda d: {"points": points, **idx, "kl": np.linspace(0, 0.1, 6), "kl_se": np.zeros(6),
                            "pairs": {"all": {"margins": margins, "n": n}},
                            "scores": {"h": base["h"] + d + noise * rng.standard_normal((6, n)), "v": base["v"],
                                       "well_formed": np.ones((6, n))}}
        per_seed.append({"seed": s, "prompts": list(range(n)), "methods": {"TS-DPO": method(shift),
                                                                           "DPO task arithmetic": method(0.0)}})
    args = types.SimpleNamespace(maximize="h", minimize="v", alphas_a=[0.0, 1.0], alphas_b=[-1.0, 0.0], n_boot=300,
                                 ref=(0.0, 4.0), bounds=((0.0, 4.0), (0.0, 4.0)))
    return args, per_seed


def test_verdicts_come_from_the_ci_not_the_sign():
    """A clear shift is 'higher'; a small positive difference buried in noise is 'no difference detected' although
    its sign is positive; two seeds are resampled too (two-level bootstrap)."""
    find = lambda cs, q: next(c for c in cs if c["quantity"] == q and c["b"] == "DPO task arithmetic")
    args, per_seed = constructed(shift=0.5, noise=0.05)
    _, comparisons, _ = report.analyse(args, per_seed, None)
    hv = find(comparisons, "hv")
    assert hv["verdict"] == "higher" and 0 < hv["lo"] <= hv["diff"] <= hv["hi"]
    assert find(comparisons, "xi")["verdict"] == "no difference detected"  # identical margins: CI [0, 0]
    args, per_seed = constructed(shift=0.01, noise=1.0)
    methods, comparisons, _ = report.analyse(args, per_seed, None)
    hv = find(comparisons, "hv")
    assert hv["lo"] < 0 < hv["hi"] and hv["verdict"] == "no difference detected"
    assert hv["diff"] == pytest.approx(methods["TS-DPO"]["hv"] - methods["DPO task arithmetic"]["hv"])


@pytest.mark.slow
def test_default_out_names_train_then_evaluate(tmp_path, monkeypatch, one_thread):
    """train_tangent.py with the DEFAULT --out for an objective and for --weights, then evaluate.py --runs runs:
    the name scal-helpfulness0.75_verbosity-0.25 is found by its config.json (it used to crash float(name[5:]))."""
    import train_tangent
    monkeypatch.chdir(tmp_path)
    tiny_base(tmp_path / "runs" / "base")
    common = ["--mode", "standard", "--base", "runs/base", "--steps", "2", "--batch-size", "2", "--eval-every", "2",
              "--eval-pairs", "4", "--save-every", "2", "--warmup-steps", "1", "--max-length", "96",
              "--limit", "200"]  # 50 of the toy world's prompts: building all of it took a second per split
    train_tangent.main(common + ["--objective", "helpfulness"])
    train_tangent.main(common + ["--weights", "helpfulness=0.75,verbosity=-0.25"])
    scal = run_folder.default_out("standard", weights="helpfulness=0.75,verbosity=-0.25")
    ev.main(["--runs", "runs", "--out", "results", *TINY])
    summary = json.loads((tmp_path / "results" / "summary.json").read_text())
    assert set(summary["methods"]) == {"scalarized DPO", "base"}  # no pair of objective runs: nothing to compose
    assert summary["methods"]["scalarized DPO"]["n_points"] == 2
    assert summary["runs"]["-"] == {"standard/helpfulness": run_folder.default_out("standard", "helpfulness"),
                                    "standard/helpfulness=0.75,verbosity=-0.25": scal,
                                    "standard/helpfulness=1,verbosity=0": run_folder.default_out("standard", "helpfulness")}
    rows = [json.loads(line) for line in (tmp_path / "results" / "sweep.jsonl").read_text().splitlines()]
    assert [r["w"] for r in rows if r["method"] == "scalarized DPO"] == [0.75, 1.0]


def test_select_runs_from_config(tmp_path, capsys):
    """Runs are keyed by (mode, objective or weights, seed) from config.json; folder names mean nothing."""
    fake_run(tmp_path / "a", "tangent", "helpfulness")
    fake_run(tmp_path / "b" / "nested", "tangent", "verbosity")
    fake_run(tmp_path / "c", "tangent", "helpfulness", seed=1)
    fake_run(tmp_path / "c2", "tangent", "verbosity", seed=1)
    fake_run(tmp_path / "ts-verbosity-s1", "standard", "helpfulness", seed=1)  # the name says nothing
    fake_run(tmp_path / "d", "standard", weights="verbosity=-0.5,helpfulness=0.5")
    fake_run(tmp_path / "e", "standard", weights="helpfulness=0.25,verbosity=-0.75")
    fake_run(tmp_path / "f", "standard", weights="helpfulness=0.5,safety=0.5")    # another trade-off: skipped
    fake_run(tmp_path / "g", "standard", "helpfulness")
    (tmp_path / "unfinished").mkdir()
    (tmp_path / "unfinished" / "config.json").write_text(json.dumps({"mode": "standard", "objective": "verbosity",
                                                                     "weights": None, "seed": 0, "finished": False}))
    (tmp_path / "unfinished" / "task_vector.safetensors").write_bytes(b"stub")
    found = run_folder.find_runs(tmp_path)
    r0 = ev.select_runs(found, 0, "helpfulness", "verbosity")
    assert r0["vectors"] == {("tangent", "helpfulness"): tmp_path / "a", ("tangent", "verbosity"): tmp_path / "b" / "nested",
                             ("standard", "helpfulness"): tmp_path / "g"}
    # sorted by w, the weight on helpfulness; the standard helpfulness run is the weighting 1, 0
    assert r0["scalarized"] == [(0.25, "helpfulness=0.25,verbosity=-0.75", tmp_path / "e"),
                                (0.5, "helpfulness=0.5,verbosity=-0.5", tmp_path / "d"), (1.0, None, tmp_path / "g")]
    assert "f skipped" in capsys.readouterr().out
    r1 = ev.select_runs(found, 1, "helpfulness", "verbosity", root=str(tmp_path))
    assert r1 == {"vectors": {("tangent", "helpfulness"): tmp_path / "c", ("tangent", "verbosity"): tmp_path / "c2",
                              ("standard", "helpfulness"): tmp_path / "ts-verbosity-s1"}, "scalarized": []}
    with pytest.raises(ValueError, match="no finished runs of seed 2"):
        ev.select_runs(found, 2, "helpfulness", "verbosity")
    # a run that claims what another already claims (same weights, written in another order): refused, both named
    fake_run(tmp_path / "h", "standard", weights="helpfulness=0.50,verbosity=-0.5")
    with pytest.raises(ValueError, match=re.escape(f"{tmp_path / 'd'} and {tmp_path / 'h'} are both finished standard")):
        ev.select_runs(run_folder.find_runs(tmp_path), 0, "helpfulness", "verbosity")


def test_linear_hidden_shift_is_the_derivative(tiny_tokenizer):
    """pooled_hidden(linear=True) = J_h tau: equals the nonlinear shift / eps for a small eps * tau."""
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


@pytest.mark.parametrize("flags, named", [
    (["--n-prompts", "0"], "--n-prompts"), (["--max-new-tokens", "-1"], "--max-new-tokens"),
    (["--n-pairs", "0"], "--n-pairs"), (["--n-cca", "2"], "--n-cca"), (["--cca-k", "0"], "--cca-k"),
    (["--max-length", "1"], "--max-length"), (["--beta", "0"], "--beta"), (["--batch-size", "0"], "--batch-size"),
    (["--pair-batch-size", "0"], "--pair-batch-size"), (["--top-p", "0"], "--top-p"), (["--top-p", "1.5"], "--top-p"),
    (["--bounds", "4,0"], "--bounds"), (["--bounds", "1"], "--bounds"), (["--alphas-a", "0,x"], "--alphas-a"),
    (["--alphas-a", "0.5,1"], "--alphas-a"), (["--alphas-b=-1,nan"], "--alphas-b"), (["--alphas-b=-1"], "--alphas-b"),
    (["--control", "1,-1,3"], "--control"), (["--control=-1,1,1"], "--control"), (["--control=-1,1"], "--control"),
    (["--control=-1,1,2.5"], "--control"), (["--scorer", "toy,oracle"], "--scorer"), (["--scorer", "hf:"], "--scorer"),
    (["--maximize", "verbosity"], "--minimize"), (["--seeds", "0", "0"], "--seeds"), (["--seeds", "-1"], "--seeds"),
    (["--gen-seed", "-1"], "--gen-seed"), (["--n-samples", "0"], "--n-samples"), (["--n-boot", "1"], "--n-boot"),
    (["--n-perm", "99"], "--n-perm"), (["--calibrate", "norm"], "--calibrate"), (["--correlation", "1.5"], "--correlation"),
    (["--correlation", "0.5", "--data", "x.jsonl"], "--correlation"),
    (["--kl-target", "0.01"], "--kl-target"), (["--calibrate", "kl", "--kl-target", "0"], "--kl-target")])
def test_bad_flags_are_usage_errors(flags, named, capsys):
    with pytest.raises(SystemExit) as e:
        ev.parse_args(flags)
    err = capsys.readouterr().err.strip().splitlines()
    assert e.value.code == 2 and named in err[-1] and "Traceback" not in "\n".join(err)


def one_line_error(argv):
    """run_cli(evaluate.main): the exit message (one line) of a bad input."""
    with pytest.raises(SystemExit) as e:
        cli.run_cli(ev.main, argv)
    msg = str(e.value.code)
    assert ": error: " in msg and "\n" not in msg
    return msg


def test_bad_files_are_one_line(tmp_path):
    (tmp_path / "runs" / "base").mkdir(parents=True)
    out = tmp_path / "results"
    assert "--base" in one_line_error(["--runs", str(tmp_path / "nowhere"), "--out", str(out)])
    assert "--runs" in one_line_error(["--runs", str(tmp_path / "nowhere"), "--base", str(tmp_path / "runs" / "base"),
                                       "--out", str(out)])
    assert "no finished runs of seed 0" in one_line_error(["--runs", str(tmp_path / "runs"), "--out", str(out)])
    # a corrupt config.json of a run: one line that names the file and says how to recover, before any work
    run = fake_run(tmp_path / "runs" / "mine", "tangent", "helpfulness")
    (run / "config.json").write_text('{"mode": "tangent", "objec')
    msg = one_line_error(["--runs", str(tmp_path / "runs"), "--out", str(out)])
    assert str(run / "config.json") in msg and "train the run again" in msg
    assert not out.exists()  # nothing written, nothing finished-looking
    # an --out that holds someone else's files is refused, and left as it was
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "notes.txt").write_text("keep me")
    assert "--out" in one_line_error(["--runs", str(tmp_path / "runs"), "--out", str(theirs)])
    assert [p.name for p in theirs.iterdir()] == ["notes.txt"]


def test_disjoint_seeds_give_each_seed_its_own_held_out_items(tiny_tokenizer):
    """--disjoint-seeds: seed i of 3 gets the i-th slice of the held-out prompts, pairs and CCA rows, each as many as
    asked and none shared; without it every seed gets the first slice (the same items)."""
    args = ev.parse_args(["--n-prompts", "4", "--n-pairs", "3", "--n-cca", "5", "--disjoint-seeds"])
    got = [ev.held_out(args, tiny_tokenizer, [], i, 3) for i in range(3)]
    shared = ev.held_out(args, tiny_tokenizer, [])
    assert got[0][0] == shared[0] and got[0][2] == shared[2]
    for k, n in ((0, 4), (2, 5)):  # prompts, CCA rows
        items = [repr(x) for prompts_sets_rows in got for x in prompts_sets_rows[k]]
        assert len(items) == 3 * n and len(set(items)) == 3 * n
    pairs = [repr(sorted(p.items())) for g in got for p in g[1]["all"]["pairs"]]
    assert [g[1]["all"]["n"] for g in got] == [3, 3, 3] and len(set(pairs)) == len(pairs) == 3 * 2 * 3
