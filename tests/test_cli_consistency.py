"""One command line across the scripts, and the forker's path (issue 25).

- every parser is plumbing.cli.Parser: a usage error is one line 'prog: error: ...' (exit 2), --help prints usage;
- comma lists of numbers may start with a negative number without '=' (--alphas-b -1.5,-1,0, --alphas -1,1);
- data.py takes --data like the others (--source still works, hidden); toyworld.py --n counts rows;
- a pairs file without an objective column takes a new name as a label (one note) but refuses a typo of a known one;
- evaluate.py scores a new attribute with --scorer module:function, and refuses an attribute no scorer gives;
- toy data in another text form than the base's is refused, naming both;
- the figures: undefined xi cells masked, w= labels apart, the Pareto axes hold every point, one CCA x axis.
"""
import argparse
import json
import os
import sys
import types

import numpy as np
import pytest
from conftest import run_as_script

from plumbing.cli import Parser

RUNNABLE = ["train_tangent.py", "compose.py", "evaluate.py", "base_model.py", "data.py", "toyworld.py", "linearize.py",
            "dpo_loss.py", "play.py", "lab/study.py", "lab/smollm2.py", "lab/bench.py", "plumbing/run_folder.py",
            "plumbing/models.py"]


# ----------------------------------------------------------------------------- A1, A6: one parser, --help everywhere
def test_parser_error_is_one_line_and_help_still_works(capsys):
    p = Parser(prog="x.py", description="a tool")
    p.add_argument("--steps", type=int, default=1)
    with pytest.raises(SystemExit) as e:
        p.parse_args(["--steps", "two"])
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.splitlines() == [err.strip()] and err.startswith("x.py: error: ") \
        and "--steps" in err and "usage:" not in err
    with pytest.raises(SystemExit) as e:
        p.parse_args(["--help"])
    assert e.value.code == 0 and capsys.readouterr().out.startswith("usage: x.py")


def test_every_runnable_file_has_help_and_one_line_usage_errors():
    cases = [[s, ["--help"]] for s in RUNNABLE] + [[s, ["--no-such-flag"]] for s in RUNNABLE]
    problems = []
    for script, argv in cases:
        r = run_as_script(script, argv)  # as `python script.py argv` would, in this process (conftest)
        prog = os.path.basename(script)
        if argv == ["--help"] and (r["code"] != 0 or not r["stdout"].startswith(f"usage: {prog}")):
            problems.append(f"{script} --help: exit {r['code']}, stdout {r['stdout'][:200]!r} {r['stderr'][-300:]!r}")
        lines = [x for x in r["stderr"].splitlines() if "RuntimeWarning" not in x]  # runpy: lab.x already imported
        if argv != ["--help"] and (r["code"] != 2 or lines != [f"{prog}: error: unrecognized arguments: --no-such-flag"]):
            problems.append(f"{script} --no-such-flag: exit {r['code']}, stderr {r['stderr'][-300:]!r}")
    assert not problems, "\n".join(problems)


# ----------------------------------------------------------------------------- A3: negative comma lists
def test_number_lists_may_start_negative_without_equals(capsys):
    import compose
    import evaluate
    args = evaluate.parse_args(["--alphas-b", "-1.5,-1,0", "--alphas-a", "0,1", "--control", "-2,2,5"])
    assert args.alphas_b == [-1.5, -1.0, 0.0] and args.alphas_a == [0.0, 1.0] and args.control == [-2.0, 2.0, 5.0]
    assert evaluate.parse_args(["--alphas-b=-1,0"]).alphas_b == [-1.0, 0.0]  # the = form still works
    with pytest.raises(SystemExit) as e:  # one vector, three alphas: -1,1 and 0.5 were all read as alphas
        compose.main(["--vectors", "v", "--alphas", "-1,1", "0.5"])
    assert e.value.code == 2 and "1 --vectors but 3 --alphas" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        compose.main(["--vectors", "v", "--alphas", "-1,1"])
    assert e.value.code == 2 and "1 --vectors but 2 --alphas" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:  # a real typo is still a usage error naming the flag
        evaluate.parse_args(["--alphas-b", "-1,x"])
    assert e.value.code == 2 and "--alphas-b" in capsys.readouterr().err


def test_pair_messages_name_flags_not_keywords(tmp_path):
    import data
    path = tmp_path / "pairs.jsonl"
    path.write_text("".join(json.dumps({"prompt": f"p{i}", "chosen": "a", "rejected": "b"}) + "\n" for i in range(20)))
    with pytest.raises(ValueError, match="pass --objective instead"):
        data.load_pairs(str(path), weights="helpfulness=1", split="all")


# ----------------------------------------------------------------------------- A2, A5: data.py --data; toyworld --n
def test_data_py_takes_data_and_still_source(capsys):
    import data
    for flag in ("--data", "--source"):
        data.main([flag, "toy", "--limit", "40", "--objective", "verbosity"])
        assert "train:" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        data.main(["--help"])
    out = capsys.readouterr().out
    assert "--data" in out and "--source" not in out  # the old name is a hidden alias


def test_toyworld_n_counts_rows(capsys):
    import toyworld
    for n in (5, 1, 8):
        toyworld.main(["--n", str(n)])
        out = capsys.readouterr().out
        assert sum(line.startswith("[") for line in out.splitlines()) == n
    with pytest.raises(SystemExit):
        toyworld.main(["--help"])
    assert "rows to print" in capsys.readouterr().out


# ----------------------------------------------------------------------------- B7: unlabelled pairs
def test_unlabelled_pairs_take_a_label_but_refuse_a_typo(tmp_path, capsys):
    import data
    path = tmp_path / "polite.jsonl"
    path.write_text("".join(json.dumps({"prompt": f"question {i} ?", "chosen": "thank you .", "rejected": "no ."})
                            + "\n" for i in range(40)))
    with pytest.raises(ValueError, match="did you mean helpfulness"):
        data.load_pairs(str(path), "helpfulnes", split="all")
    with pytest.raises(ValueError, match="did you mean safety"):
        data.load_pairs(str(path), "safty", split="all")
    capsys.readouterr()
    for split in ("train", "validation"):  # train_tangent reads both: the note comes once
        pairs = data.load_pairs(str(path), "politeness", split=split)
        assert pairs and all(p["objective"] == "politeness" for p in pairs)
    notes = [x for x in capsys.readouterr().err.splitlines() if "no objective column" in x]
    assert len(notes) == 1 and "--objective politeness is a label only" in notes[0]


def test_hub_data_knows_the_toy_attributes():
    import toyworld
    from plumbing import hub_data
    assert hub_data.TOY_ATTRIBUTES == toyworld.ATTRIBUTES


# ----------------------------------------------------------------------------- B8: --scorer module:function
SCORER = '''
VALUE = 3
def score(prompt, response):
    return {"politeness": float(("please" in response) + ("thank" in response)), "rudeness": 0}
def bad(prompt, response):
    return [1, 2]
'''


@pytest.fixture
def scorer_module(tmp_path, monkeypatch):
    name = f"myscorer_{os.getpid()}_{abs(hash(str(tmp_path))) % 10 ** 6}"
    (tmp_path / f"{name}.py").write_text(SCORER)
    monkeypatch.chdir(tmp_path)  # found in the current directory, as a user running evaluate.py there expects
    yield name
    sys.modules.pop(name, None)


def test_module_function_scorer_scores_a_new_attribute(scorer_module):
    from measure.scoring import Scorer, scorer_spec
    spec = f"toy,{scorer_module}:score"
    assert scorer_spec(spec) == spec
    s = Scorer(spec, "politeness", minimize="verbosity")
    out = s(["hi , what should i know about cats ?"] * 2, [" please , thank you .", " no ."])
    assert [o["politeness"] for o in out] == [2.0, 0.0] and all("verbosity" in o for o in out)


def test_bad_scorer_specs_are_one_line_naming_scorer(scorer_module, capsys):
    import evaluate
    from measure.scoring import Scorer, scorer_spec
    for spec, want in ((f"nosuchmodule_{scorer_module}:score", "cannot import"), (f"{scorer_module}:nope", "has no"),
                       (f"{scorer_module}:VALUE", "not a function"), ("1bad:score", "not a module:function")):
        with pytest.raises(argparse.ArgumentTypeError, match=want):
            scorer_spec(spec)
        with pytest.raises(SystemExit) as e:
            evaluate.parse_args(["--scorer", spec])
        err = capsys.readouterr().err.strip()
        assert e.value.code == 2 and err.splitlines() == [err] and "--scorer" in err and want in err
    with pytest.raises(ValueError, match=f"--scorer {scorer_module}:bad: returned \\[1, 2\\], not a dict"):
        Scorer(f"{scorer_module}:bad", "politeness")
    with pytest.raises(ValueError, match="--maximize politeness: --scorer toy gives no 'politeness'.*module:function"):
        Scorer("toy", "politeness", minimize="verbosity")
    with pytest.raises(ValueError, match="--minimize verbosity"):
        Scorer(f"{scorer_module}:score", "politeness", minimize="verbosity")
    import measure.scoring
    assert "module:function" in measure.scoring.__doc__
    with pytest.raises(SystemExit):
        evaluate.parse_args(["--help"])
    assert "module:function" in capsys.readouterr().out


# ----------------------------------------------------------------------------- B9: the base's text form
def tiny_base(path, **made):
    path.mkdir()
    cfg = {"steps": 1, "batch_size": 2, "lr": 1e-3, "seed": 0, "data_seed": 0, "n_prompts": 10} | made
    (path / "train_config.json").write_text(json.dumps(cfg))
    return path


def test_toy_text_must_match_the_base(tmp_path):
    import base_model
    import evaluate
    import train_tangent as T
    plain, natural, old = tiny_base(tmp_path / "plain", text="plain"), tiny_base(tmp_path / "nat", text="natural"), \
        tiny_base(tmp_path / "old")
    with pytest.raises(ValueError, match=f"--data toy:natural: the base {plain} was trained on the plain form; use "
                                         "--data toy or a base trained with --text natural"):
        base_model.check_text_form(plain, "toy:natural")
    with pytest.raises(ValueError, match="plain form"):  # a base made before --text: plain
        base_model.check_text_form(old, "toy:natural")
    with pytest.raises(ValueError, match="natural form; use --data toy:natural"):
        base_model.check_text_form(natural, "toy")
    base_model.check_text_form(plain, "toy")
    base_model.check_text_form(natural, "toy:natural")
    base_model.check_text_form(tmp_path / "nothing", "toy:natural")  # a hub id, or a folder without our config
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "train_config.json").write_text('{"learning_rate": 1}')  # not base_model.py's
    base_model.check_text_form(tmp_path / "foreign", "toy:natural")
    base_model.check_text_form(plain, "some_pairs.jsonl")
    # both scripts refuse before reading data or loading a model
    with pytest.raises(ValueError, match="plain form"):
        T.train(T.parse_args(["--objective", "helpfulness", "--data", "toy:natural", "--base", str(plain),
                              "--out", str(tmp_path / "run")]))
    with pytest.raises(ValueError, match="plain form"):
        evaluate.main(["--data", "toy:natural", "--base", str(plain), "--runs", str(tmp_path), "--out",
                       str(tmp_path / "results")])


# ----------------------------------------------------------------------------- C10-C13: the figures
@pytest.fixture
def figures(monkeypatch):
    """Draw through measure.plots, keeping each figure's axes for a look after the file is written."""
    from measure import plots
    kept, save = [], plots.savefig

    def keep(fig, path):
        kept.append(fig.axes)
        save(fig, path)
    monkeypatch.setattr(plots, "savefig", keep)
    return plots, kept


def test_xi_heatmap_masks_the_undefined_cells(figures, tmp_path):
    plots, kept = figures
    args = types.SimpleNamespace(alphas_a=[0.0, 0.5, 1.0], alphas_b=[-1.0, 0.0], maximize="helpfulness",
                                 minimize="verbosity")
    grid = np.array([[0.0, 0.0], [0.3, 0.0], [0.6, 0.0]])
    plots.plot_xi(args, {"TS-DPO": {"all": grid, "controlled": grid}}, tmp_path / "xi.png")
    assert (tmp_path / "xi.png").stat().st_size > 0
    image = kept[0][0].images[0].get_array()
    want = np.array([[True, True], [False, True], [False, True]])  # alpha_a = 0 row, alpha_b = 0 column
    assert np.array_equal(np.ma.getmaskarray(image), want)
    assert np.allclose(image.compressed(), [0.3, 0.6])
    texts = [t.get_text() for t in kept[0][0].texts]
    assert texts.count("n/a") == 4 and "0.30" in texts


def method(points, scores_a, scores_b, kl, **extra):
    """A method's entry of evaluate's output: P points of N=3 prompts each."""
    n = 3
    return {"scores": {"helpfulness": np.repeat(np.asarray(scores_a, float)[:, None], n, 1) + np.array([0, 0.2, -0.2]),
                       "verbosity": np.repeat(np.asarray(scores_b, float)[:, None], n, 1) + np.array([0, 0.1, -0.1])},
            "kl": np.asarray(kl, float), "points": points, **extra}


def test_pareto_axes_hold_every_point_and_labels_do_not_collide(figures, tmp_path):
    plots, kept = figures
    args = types.SimpleNamespace(maximize="helpfulness", minimize="verbosity", bounds=((0.0, 4.0), (0.0, 4.0)),
                                 ref=(0.0, 4.0), scorer="toy")
    o = {"methods": {
        "base": method([[0, 0]], [1.0], [2.0], [0.0], grid=[0]),
        "TS-DPO": method([[0, 0], [1, 0], [1, -1]], [0.0, 4.0, 2.0], [4.0, 3.9, 0.0], [0.0, 0.1, 0.2], grid=[0, 1, 2],
                         eq=[2]),
        "scalarized DPO": method([[0], [0], [0]], [0.8, 0.82, 2.0], [3.9, 3.92, 1.0], [0.1, 0.1, 0.1],
                                 labels=[{"w": 0.75}, {"w": 1.0}, {"w": 0.5}])}}
    plots.plot_pareto(args, o, ideal=[[0, 0], [4, 4]], path=tmp_path / "pareto.png")
    assert (tmp_path / "pareto.png").stat().st_size > 0
    ax = kept[0][0]
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    for m in o["methods"].values():
        for key, lo, hi in (("helpfulness", x0, x1), ("verbosity", y0, y1)):
            s = m["scores"][key]
            mean, se = s.mean(1), s.std(1, ddof=1) / np.sqrt(s.shape[1])
            assert lo < (mean - se).min() and (mean + se).max() < hi, (key, lo, hi)
    labels = {t.get_text(): t.xyann for t in ax.texts if t.get_text().startswith("w=")}
    assert set(labels) == {"w=0.75", "w=1", "w=0.5"}
    assert abs(labels["w=0.75"][1] - labels["w=1"][1]) >= 0.035 - 1e-9  # the two close points' labels apart


def test_both_cca_figures_share_one_x_axis(figures, tmp_path):
    plots, kept = figures
    spec = {"spectrum": [0.9, 0.5, 0.2], "null95": [0.6, 0.4, 0.3]}
    args = types.SimpleNamespace(maximize="helpfulness", minimize="verbosity")
    plots.plot_cca(args, {"TS-DPO": {"shift_vs_shift": spec, "shift_vs_shift_residual": spec}}, tmp_path / "a.png")
    plots.plot_study_cca({"matched": {"TS-DPO": spec}}, tmp_path / "b.png")
    (a,), (b,) = kept
    assert a.get_xlabel() == b.get_xlabel() == plots.CCA_X
    for ax in (a, b):
        assert all(list(line.get_xdata()) == [1, 2, 3] for line in ax.get_lines())
