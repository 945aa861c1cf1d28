"""evaluate.py: runs found by config.json (any folder name, the default names, seeds, duplicates refused), a smoke
run of the whole experiment, J_h tau against finite differences, and bad flags / files as one line.
The metrics themselves are tested in test_metrics.py."""
import json
import re

import numpy as np
import pytest
import torch

import evaluate as ev
import linearize
import report
import runs
import toyworld
from conftest import build_tokenizer, make_tiny_model

TINY = ["--alphas-a", "0,1", "--alphas-b=-1,0", "--control=-1,1,3", "--n-prompts", "3", "--max-new-tokens", "4",
        "--n-pairs", "4", "--n-cca", "8", "--cca-k", "2", "--max-length", "96"]


def tiny_base(path):
    """A random 1-layer GPT-2 with a toy-world tokenizer, saved as an HF folder; returns the model."""
    tok = build_tokenizer(toyworld.corpus(n_prompts=40, seed=0), vocab_size=400)
    model = make_tiny_model("gpt2", vocab_size=len(tok), n_layer=1, d=16)
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return model


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


def test_end_to_end_smoke(tmp_path):
    """evaluate.main on a tiny random base + random task vectors in folders with arbitrary names."""
    model = tiny_base(tmp_path / "runs" / "base")
    fp = linearize.fingerprint(linearize.load_model(str(tmp_path / "runs" / "base")))
    g = torch.Generator().manual_seed(0)
    for i, (mode, obj, w) in enumerate([("tangent", "helpfulness", None), ("tangent", "verbosity", None),
                                        ("standard", "helpfulness", None), ("standard", "verbosity", None),
                                        ("standard", None, "helpfulness=0,verbosity=-1")]):
        tau = linearize.TaskVector({n: 0.05 * torch.randn(p.shape, generator=g) for n, p in model.named_parameters()})
        fake_run(tmp_path / "runs" / f"run{i}", mode, obj, w, tau=tau, fingerprint=fp)
    out = tmp_path / "results"
    ev.main(["--runs", str(tmp_path / "runs"), "--out", str(out), *TINY])
    for f in report.OUTPUTS:
        assert (out / f).stat().st_size > 0, f
    summary = json.loads((out / "summary.json").read_text())
    methods = summary["methods"]
    assert set(methods) == {"TS-DPO", "DPO task arithmetic", "TS-DPO (nonlinear)", "scalarized DPO", "base"}
    for m in methods.values():
        assert 0.0 <= m["hv"] <= 1.0
    xi = np.asarray(summary["xi"]["-"]["TS-DPO"])  # rows alpha_a (0, 1), columns alpha_b (-1, 0)
    assert xi.shape == (2, 2) and xi[0, 1] == 0.0 and xi[0, 0] == 0.0 and xi[1, 1] == 0.0  # a zero alpha: no term
    rows = [json.loads(line) for line in (out / "sweep.jsonl").read_text().splitlines()]
    # 4 grid points + 2 extra control points (+-1 alone) per composed method, 2 scalarized (w = 0, and the
    # standard helpfulness run reused as w = 1), 1 base
    assert len(rows) == 3 * 6 + 2 + 1
    assert [(r["w"], r["weights"]) for r in rows if r["method"] == "scalarized DPO"] == [
        (0.0, "helpfulness=0,verbosity=-1"), (1.0, "helpfulness=1,verbosity=0")]
    assert all(r["scores"]["helpfulness"]["n"] == 3 for r in rows)
    assert summary["runs"]["-"]["tangent/helpfulness"].endswith("run0")
    assert "What the numbers say" in (out / "summary.md").read_text()


def test_default_out_names_train_then_evaluate(tmp_path, monkeypatch):
    """train_tangent.py with the DEFAULT --out for an objective and for --weights, then evaluate.py --runs runs:
    the name scal-helpfulness0.75_verbosity-0.25 is found by its config.json (it used to crash float(name[5:]))."""
    import train_tangent
    monkeypatch.chdir(tmp_path)
    tiny_base(tmp_path / "runs" / "base")
    common = ["--mode", "standard", "--base", "runs/base", "--steps", "2", "--batch-size", "2", "--eval-every", "2",
              "--eval-pairs", "4", "--save-every", "2", "--warmup-steps", "1", "--max-length", "96"]
    train_tangent.main(common + ["--objective", "helpfulness"])
    train_tangent.main(common + ["--weights", "helpfulness=0.75,verbosity=-0.25"])
    scal = runs.default_out("standard", weights="helpfulness=0.75,verbosity=-0.25")
    assert (tmp_path / scal / "task_vector.safetensors").exists()
    assert (tmp_path / runs.default_out("standard", "helpfulness") / "task_vector.safetensors").exists()
    ev.main(["--runs", "runs", "--out", "results", *TINY])
    summary = json.loads((tmp_path / "results" / "summary.json").read_text())
    assert set(summary["methods"]) == {"scalarized DPO", "base"}  # no pair of objective runs: nothing to compose
    assert summary["methods"]["scalarized DPO"]["n_points"] == 2
    assert summary["runs"]["-"] == {"standard/helpfulness": runs.default_out("standard", "helpfulness"),
                                    "standard/helpfulness=0.75,verbosity=-0.25": scal,
                                    "standard/helpfulness=1,verbosity=0": runs.default_out("standard", "helpfulness")}
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
    found = runs.find_runs(tmp_path)
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
        ev.select_runs(runs.find_runs(tmp_path), 0, "helpfulness", "verbosity")


def test_aggregate_over_seeds():
    per_seed = [{"methods": {"TS-DPO": {"hv": v, "n_front": 3}}} for v in (0.2, 0.4, 0.6)]
    agg = report.aggregate(per_seed)["TS-DPO"]
    assert agg["hv"] == 0.2 and agg["n_seeds"] == 3  # the first seed's value, plus mean and sd over seeds
    assert agg["hv_seeds_mean"] == pytest.approx(0.4) and agg["hv_seeds_sd"] == pytest.approx(0.2)


def test_compare_sentence():
    assert "more" in report.compare(0.6, 0.01, 0.4, 0.01, "A", "B")
    assert "less" in report.compare(0.4, 0.01, 0.6, 0.01, "A", "B")
    assert "matches" in report.compare(0.5, 0.05, 0.52, 0.05, "A", "B")


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
    (["--gen-seed", "-1"], "--gen-seed")])
def test_bad_flags_are_usage_errors(flags, named, capsys):
    with pytest.raises(SystemExit) as e:
        ev.parse_args(flags)
    err = capsys.readouterr().err.strip().splitlines()
    assert e.value.code == 2 and named in err[-1] and "Traceback" not in "\n".join(err)


def one_line_error(argv):
    """run_cli(evaluate.main): the exit message (one line) of a bad input."""
    with pytest.raises(SystemExit) as e:
        runs.run_cli(ev.main, argv)
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
