"""study.py: the grid is planned consistently, the lr pick follows its stated criterion, verdicts read off CIs, bad
flags are refused, and the tiny study runs end to end (then reuses everything on a rerun)."""
import json
import re
from pathlib import Path

import pytest

from measure import report
from lab import study
import toyworld


def test_default_correlation_is_the_worlds():
    assert study.DEFAULT_R == toyworld.DEFAULT_CORRELATION


@pytest.mark.parametrize("better,lo,hi,want", [
    ("higher", 0.01, 0.2, "holds"), ("higher", -0.2, -0.01, "fails"), ("higher", -0.1, 0.1, "not detectable"),
    ("lower", -0.2, -0.01, "holds"), ("lower", 0.01, 0.2, "fails"), ("lower", -0.1, 0.1, "not detectable"),
    ("higher", float("nan"), float("nan"), "not measured")])
def test_claim_verdict_reads_the_ci(better, lo, hi, want):
    assert report.claim_verdict({"better": better, "diff": (lo + hi) / 2, "lo": lo, "hi": hi}) == want
    assert report.claim_verdict({"better": better, "diff": float("nan"), "lo": 0.1, "hi": 0.2}) == "not measured"


def test_degenerate_statistics_get_their_own_verdict():
    """A zero-width CI, or a Spearman over 3 or fewer points, can neither hold nor fail."""
    flat = {"better": "higher", "quantity": "spearman_verbosity", "diff": 0.5, "lo": 0.5, "hi": 0.5, "p": 0.0}
    assert report.claim_verdict(flat) == "degenerate"
    three = {**flat, "lo": 0.1, "hi": 0.9, "n_points": 3}
    assert report.claim_verdict(three) == "degenerate" and report.claim_verdict({**three, "n_points": 5}) == "holds"
    fam = report.family_verdicts([flat, {**three, "n_points": 5}])
    assert [v for _, v, _ in fam] == ["degenerate", "holds"]  # a degenerate row is not a test: m = 1


def _fake_run(d, acc, loss, seconds=1.0):
    d.mkdir(parents=True)
    rows = [{"step": 1, "loss": 0.7}, {"step": 3, "eval/loss": loss, "eval/rewards/accuracies": acc,
                                       "eval/rewards/margins": 0.1}]
    (d / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (d / "config.json").write_text(json.dumps({"mode": "x", "objective": "y", "weights": None, "seed": 0,
                                               "train_seconds": seconds}))


def test_pick_is_the_highest_held_out_accuracy_ties_to_lower_loss(tmp_path):
    S = study.SCALES["tiny"]
    acc = {("tangent", 1e-3): 0.70, ("tangent", 2e-3): 0.80, ("standard", 1e-3): 0.75, ("standard", 2e-3): 0.75}
    loss = {("tangent", 1e-3): 0.5, ("tangent", 2e-3): 0.6, ("standard", 1e-3): 0.6, ("standard", 2e-3): 0.4}
    for (mode, lr), a in acc.items():
        for obj in study.targets(S)[0]:
            for s in S["seeds"]:
                _fake_run(study.run_dir(tmp_path, "small", study.DEFAULT_R, mode, lr, S["steps"], obj, s), a,
                          loss[(mode, lr)])
    assert study.pick_lrs(S, tmp_path) == {"tangent": 2e-3, "standard": 2e-3}
    arms = study.lr_arms(S, tmp_path)
    assert len(arms) == 4 and all(a["n"] == 2 * len(S["seeds"]) for a in arms)


@pytest.mark.parametrize("scale", ["tiny", "quick", "full"])
def test_every_cell_trains_exactly_the_runs_it_evaluates(tmp_path, scale):
    """plan() (what is trained) and cell_runs() (what evaluate_cell reads) must agree, for every cell and seed."""
    S, picked = study.SCALES[scale], {"tangent": 0.123, "standard": 0.0456}
    tasks = study.plan(S, tmp_path, picked)
    outs = {}
    for tid, (needs, kind, make) in tasks.items():
        if kind == "train":
            argv = make()
            outs[tid] = Path(argv[argv.index("--out") + 1])
    for cell, spec in study.cells(S).items():
        needs = set(tasks[f"eval/{cell}"][0])
        trained = {outs[t] for t in needs if t in outs}
        wanted = {d for s in S["seeds"] for d in study.cell_runs(S, tmp_path, cell, spec, s, picked)}
        assert trained == wanted, cell
        assert {f"base/{spec['size']}-s{s}" for s in S["seeds"]} <= needs
    assert len(S["seeds"]) >= 3 or scale != "full"


def test_bad_flags_and_folders_are_refused(tmp_path, capsys):
    with pytest.raises(SystemExit):
        study.parse_args(["--workers", "0"])
    assert "--workers" in capsys.readouterr().err
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="--out"):
        study.main(["--tiny", "--out", str(theirs)])
    assert sorted(p.name for p in theirs.iterdir()) == ["notes.txt"]
    other = tmp_path / "other"
    other.mkdir()
    (other / "study.json").write_text(json.dumps({"scale": "quick"}))
    with pytest.raises(ValueError, match="another size"):
        study.main(["--tiny", "--out", str(other)])


@pytest.mark.slow(seconds=20)  # the suite's longest: it starts first
def test_tiny_study_end_to_end_then_reuses_everything(tmp_path):
    out, rep = tmp_path / "study", tmp_path / "report"
    study.main(["--tiny", "--out", str(out), "--report", str(rep)])
    md = (rep / "study.md").read_text()
    S = study.SCALES["tiny"]
    for cell in study.cells(S):
        assert (out / "results" / cell / "summary.json").exists()
        assert f"| {cell} (r = " in md
    rows = [line for line in md.splitlines() if line.startswith("| 1. coverage") or line.startswith("| 3. dis")]
    assert rows and all(re.search(r"\| (holds|fails|not detectable|not measured|degenerate)( \(raw: [a-z ]+\))? \|", r) for r in rows)
    for png in ("study-hv", "study-control", "study-xi", "study-cca", "study-gap"):
        assert (rep / f"{png}.png").stat().st_size > 1000
    picked = [line for line in md.splitlines() if line.endswith("| yes |")]
    assert len(picked) == 2  # one lr per mode
    vectors = sorted((out / "runs").rglob("task_vector.safetensors"))
    before = {p: p.stat().st_mtime for p in vectors}
    summaries = {c: (out / "results" / c / "summary.json").stat().st_mtime for c in study.cells(S)}
    study.main(["--tiny", "--out", str(out), "--report", str(rep), "--workers", "1"])  # nothing to train: one will do
    assert {p: p.stat().st_mtime for p in vectors} == before  # nothing retrained
    assert {c: (out / "results" / c / "summary.json").stat().st_mtime for c in study.cells(S)} == summaries
