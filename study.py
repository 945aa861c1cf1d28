"""The study: where, if anywhere, does TS-DPO beat DPO task arithmetic and scalarized DPO? (docs/study.md)

The demo compares the methods in one regime, the one where they cannot differ: standard DPO stays lazy (its
linearization gap is about 0.1 at alpha = 1), the objectives are correlated 0.75, each mode has one hand-picked
learning rate, one model, one seed. The paper's mechanism (linear composition in the tangent space) can only matter
where fine-tuning leaves the linear regime or where objectives compete, so this grid looks there:

  cell       base                  preference data   standard DPO and scalarized DPO       TS-DPO
  matched    0.94M (d 128, 4 blk)  r = 0.75          the picked lr (below)                 the picked lr
  rich       0.94M                 r = 0.75          RICH: a higher lr, more steps         matched's vectors
  corr-<r>   0.94M                 r = 0, 0.5, 0.9   the picked lr                         the picked lr
  wide       4.2M (d 256, 5 blk)   r = 0.75          the picked lr                         the picked lr

Learning rates: each mode trains both objectives at every lr of LRS, for every seed; one shared criterion picks one
lr per mode: the highest held-out reward accuracy (validation pairs, after the same number of steps), averaged over
seeds and both objectives; ties go to the lower held-out DPO loss. Every arm is reported, not just the picks.
Seeds: seed s is the base's initialisation and SFT order (base_model --seed s) and every run's data order (--seed s).
KL: each cell is evaluated by evaluate.run with --calibrate kl --kl-target standard: every vector is rescaled so that
alpha = 1 alone spends what the cell's standard-DPO vectors spend (their median KL), so an alpha means the same
budget for both methods (in the rich cell, TS-DPO is scaled to the rich arm's KL). The report states each arm's
linearization gap and KL.
Shared, not repeated: a base is trained once per (size, seed) and serves every correlation (its SFT data is the
default world; only the preference data's r changes), and matched's tangent vectors serve the rich cell.
Work runs in --workers processes of one thread each (two tiny models side by side beat one on two threads). A
finished base, run or evaluation is reused, so a rerun continues where a stopped one left off.

    python study.py                  # the full grid: make study (about 55 min on 2 cores)
    python study.py --quick          # the same grid at a few-minute size
    python study.py --tiny --out /tmp/s    # seconds, meaningless numbers: what the test suite runs
Outputs: --out (default runs/study[-quick|-tiny]): bases/, runs/, results/<cell>/ (evaluate.py's folders),
logs/<task>.log, study.json; the report: --report (default docs for the full grid, else <out>/report):
study.md and study-*.png (report.py: study_markdown; plots.py: the study figures).
"""
import argparse
import contextlib
import json
import multiprocessing
import os
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path

from tqdm import tqdm

from metrics import mean_se
from runs import check_out, read_config, read_json, run_cli, write_json

A, B = "helpfulness", "verbosity"
SCALES = {  # every size of the same grid; a cell list, flags and seeds per scale
    "full": dict(  # measured: about 55 min on 2 cores (docs/study.md states the run's own time)
        seeds=(0, 1, 2), correlations=(0.0, 0.5, 0.9), weights=(0.0, 0.5),
        small=dict(steps=1500), wide=dict(d_model=256, n_layer=5, n_head=8, steps=600),
        base_flags=[], train_flags=["--eval-every", "120", "--save-every", "120"], steps=120,
        lrs={"tangent": (1e-4, 2e-4, 4e-4), "standard": (5e-5, 1e-4, 2e-4)},
        rich=dict(lr=4e-4, steps=120),  # measured: gap 0.59 at alpha = 1 on the demo base (5e-5: 0.09)
        eval_flags=["--n-prompts", "48", "--n-samples", "1", "--n-pairs", "48", "--n-cca", "96"]),
    "quick": dict(
        seeds=(0, 1), correlations=(0.0, 0.9), weights=(0.0, 0.5),
        small=dict(steps=300), wide=dict(d_model=192, n_layer=4, n_head=6, steps=150),
        base_flags=["--eval-prompts", "32"], train_flags=["--eval-pairs", "64", "--eval-every", "40"], steps=40,
        lrs={"tangent": (2e-4, 8e-4), "standard": (5e-5, 2e-4)}, rich=dict(lr=8e-4, steps=80),
        eval_flags=["--n-prompts", "24", "--n-pairs", "32", "--n-cca", "32", "--n-boot", "300"]),
    "tiny": dict(
        seeds=(0, 1), correlations=(0.0,), weights=(0.5,),
        small=dict(d_model=32, n_layer=1, n_head=2, steps=6), wide=dict(d_model=48, n_layer=1, n_head=2, steps=6),
        base_flags=["--eval-prompts", "4", "--n-prompts", "200", "--batch-size", "8"],
        train_flags=["--limit", "400", "--batch-size", "4", "--eval-pairs", "8", "--eval-every", "3"], steps=3,
        lrs={"tangent": (1e-3, 2e-3), "standard": (1e-3, 2e-3)}, rich=dict(lr=5e-3, steps=4),
        eval_flags=["--n-prompts", "3", "--n-pairs", "6", "--n-cca", "6", "--n-perm", "100", "--n-boot", "20",
                    "--max-new-tokens", "12", "--control=-1,1,3", "--alphas-a", "0,1", "--alphas-b=-1,0"]),
}
EVAL_FLAGS = ["--maximize", A, "--minimize", B, "--no-ablation", "--calibrate", "kl", "--kl-target", "standard"]
DEFAULT_R = 0.75  # toyworld.DEFAULT_CORRELATION, the demo's world (a test checks they agree)


# ----------------------------------------------------------------------------- the grid: folders and cells
def cells(S):
    """{cell: {"size", "r", "standard": (lr, steps) or "picked", "tangent": "picked"}} in report order."""
    c = {"matched": dict(size="small", r=DEFAULT_R, standard="picked")}
    c["rich"] = dict(size="small", r=DEFAULT_R, standard=(S["rich"]["lr"], S["rich"]["steps"]))
    c |= {f"corr-{r:g}": dict(size="small", r=r, standard="picked") for r in S["correlations"]}
    c["wide"] = dict(size="wide", r=DEFAULT_R, standard="picked")
    return c


def base_dir(out, size, seed):
    return Path(out) / "bases" / f"{size}-s{seed}"


def run_dir(out, size, r, mode, lr, steps, target, seed):
    """One training run's folder: readers find it by its config.json, this name is only where it lives."""
    return Path(out) / "runs" / f"{size}-r{r:g}" / f"{mode}-lr{lr:g}-{steps}" / f"{target}-s{seed}"


def targets(S):
    """What a mode trains in a cell: both objectives, and (standard) the scalarized weightings w, w - 1."""
    return [A, B], [f"{A}={w:g},{B}={w - 1:g}" for w in S["weights"]]


def cell_runs(S, out, cell, spec, seed, picked):
    """Every run folder one cell evaluates for one seed (TS-DPO vectors, DPO vectors, scalarized runs)."""
    objectives, weightings = targets(S)
    lr_ts, lr_std = picked["tangent"], picked["standard"]
    std = (lr_std, S["steps"]) if spec["standard"] == "picked" else spec["standard"]
    ts = [run_dir(out, spec["size"], spec["r"], "tangent", lr_ts, S["steps"], o, seed) for o in objectives]
    return ts + [run_dir(out, spec["size"], spec["r"], "standard", *std, t, seed) for t in objectives + weightings]


# ----------------------------------------------------------------------------- the tasks and their order
def plan(S, out, picked):
    """{task id: (needs, kind, make)}: make() -> the task's arguments, called once its needs are done (so a task can
    use the learning rates picked in between). kind: base | train | eval (a worker) or pick (here)."""
    tasks, objectives, weightings = {}, *targets(S)
    for size in ("small", "wide"):  # the small bases unlock most of the grid: first
        for s in S["seeds"]:
            d, arch = base_dir(out, size, s), S[size]
            flags = [f"--{k.replace('_', '-')}={v}" for k, v in arch.items()]
            tasks[f"base/{size}-s{s}"] = ([], "base", lambda d=d, s=s, f=flags: ["--out", str(d), "--seed", str(s),
                                                                                *f, *S["base_flags"]])

    def train(size, r, mode, lr, steps, target, s, needs=()):
        lr_of = (lambda: picked[mode]) if lr == "picked" else (lambda: lr)
        tid = f"train/{size}-r{r:g}/{mode}-{lr if lr == 'picked' else f'{lr:g}'}-{steps}/{target}-s{s}"
        flag = ["--objective", target] if "=" not in target else ["--weights", target]
        tasks.setdefault(tid, ([f"base/{size}-s{s}", *needs], "train", lambda: [
            "--mode", mode, *flag, "--base", str(base_dir(out, size, s)), "--correlation", f"{r:g}",
            "--lr", f"{lr_of():g}", "--steps", str(steps), "--seed", str(s),
            "--out", str(run_dir(out, size, r, mode, lr_of(), steps, target, s)), *S["train_flags"]]))
        return tid

    sweep = [train("small", DEFAULT_R, mode, lr, S["steps"], o, s)
             for mode in ("tangent", "standard") for lr in S["lrs"][mode] for o in objectives for s in S["seeds"]]
    tasks["pick"] = (sweep, "pick", lambda: picked.update(pick_lrs(S, out)))
    grid = cells(S)
    for cell in sorted(grid, key=lambda c: c != "wide"):  # the longest chain first: wide runs, then its evaluation
        spec = grid[cell]
        needs = {f"base/{spec['size']}-s{s}" for s in S["seeds"]} | {"pick"}
        std = ("picked", S["steps"]) if spec["standard"] == "picked" else spec["standard"]
        for s in S["seeds"]:  # rich has matched's base and r: its tangent runs ARE matched's (one task, one folder)
            needs |= {train(spec["size"], spec["r"], "tangent", "picked", S["steps"], o, s, ["pick"]) for o in objectives}
            needs |= {train(spec["size"], spec["r"], "standard", *std, t, s, ["pick"]) for t in objectives + weightings}
        tasks[f"eval/{cell}"] = (sorted(needs), "eval", lambda cell=cell, spec=spec: dict(
            S=S, out=str(out), cell=cell, spec=spec, picked=dict(picked)))
    return tasks


def pick_lrs(S, out):
    """The shared criterion: per mode, the lr with the highest held-out reward accuracy (mean over seeds and
    objectives, at the runs' last evaluation); ties -> lower held-out loss. -> {mode: lr}."""
    arms = lr_arms(S, out)
    return {mode: max((a for a in arms if a["mode"] == mode), key=lambda a: (a["acc"], -a["loss"]))["lr"]
            for mode in ("tangent", "standard")}


def lr_arms(S, out):
    """[{"mode", "lr", "acc", "acc_se", "loss", "margin", "seconds"}]: every arm of the lr sweep."""
    arms = []
    for mode in ("tangent", "standard"):
        for lr in S["lrs"][mode]:
            last = [last_eval(run_dir(out, "small", DEFAULT_R, mode, lr, S["steps"], o, s))
                    for o in targets(S)[0] for s in S["seeds"]]
            acc, acc_se, n = mean_se([e["eval/rewards/accuracies"] for e in last])
            arms.append({"mode": mode, "lr": lr, "acc": acc, "acc_se": acc_se, "n": n,
                         "loss": mean_se([e["eval/loss"] for e in last])[0],
                         "margin": mean_se([e["eval/rewards/margins"] for e in last])[0],
                         "seconds": sum(e["seconds"] for e in last)})
    return arms


def last_eval(d):
    """The last held-out evaluation in a run's metrics.jsonl, with the run's training seconds."""
    rows = [json.loads(line) for line in (Path(d) / "metrics.jsonl").read_text().splitlines() if line.strip()]
    ev = [r for r in rows if "eval/loss" in r]
    if not ev:
        raise ValueError(f"{d}/metrics.jsonl: no held-out evaluation; delete {d} and rerun study.py")
    return ev[-1] | {"seconds": read_config(d).get("train_seconds", 0.0)}


# ----------------------------------------------------------------------------- work (in a worker process)
def _init_worker():
    import torch
    torch.set_num_threads(1)


def work(kind, args, log):
    """One task, its output into `log`: base_model.main, train_tangent.main or evaluate_cell."""
    import base_model
    import train_tangent
    t = time.time()
    with open(log, "w") as f, contextlib.redirect_stdout(f), contextlib.redirect_stderr(f):
        {"base": base_model.main, "train": train_tangent.main, "eval": lambda kw: evaluate_cell(**kw)}[kind](args)
    return time.time() - t


def evaluate_cell(S, out, cell, spec, picked):
    """evaluate.run on one cell: its runs per seed (evaluate.select_runs on their configs), each seed its base."""
    import evaluate
    res = Path(out) / "results" / cell
    folders = {s: cell_runs(S, out, cell, spec, s, picked) for s in S["seeds"]}
    newest = max((d / "config.json").stat().st_mtime for ds in folders.values() for d in ds)
    if (res / "summary.json").exists() and (res / "summary.json").stat().st_mtime > newest:
        print(f"study.py: {res} is newer than its runs, reused")
        return
    args = evaluate.parse_args([*EVAL_FLAGS, *S["eval_flags"], "--out", str(res), "--runs", str(Path(out) / "runs"),
                                "--correlation", f"{spec['r']:g}", "--seeds", *map(str, S["seeds"])])
    runs_of = {s: evaluate.select_runs([(d, read_config(d)) for d in ds], s, A, B, str(Path(out) / "runs"))
               | {"base": str(base_dir(out, spec["size"], s))} for s, ds in folders.items()}
    evaluate.run(args, runs_of)


# ----------------------------------------------------------------------------- the scheduler
def execute(tasks, out, workers):
    """Run every task once its needs are done, up to `workers` at a time -> {task id: seconds}. A failed task
    stops the study with its last log line (the log keeps the rest)."""
    done, running, seconds = set(), {}, {}
    logs = Path(out) / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    bar = tqdm(total=len(tasks), desc="study", unit="task")
    ctx = multiprocessing.get_context("spawn")  # a clean interpreter per worker, not a fork of this one
    with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker) as pool:
        while len(done) < len(tasks):
            for tid, (needs, kind, make) in tasks.items():
                if tid in done or tid in running or not set(needs) <= done:
                    continue
                if kind == "pick":  # cheap, here
                    make()
                    done.add(tid), bar.update()
                elif len(running) < workers:
                    log = logs / (tid.replace("/", "__") + ".log")
                    running[tid] = (pool.submit(work, kind, make(), str(log)), log)
            if not running:
                if not any(set(n) <= done for t, (n, _, _) in tasks.items() if t not in done):
                    raise RuntimeError(f"study.py: tasks wait on each other: {sorted(set(tasks) - done)[:3]}")
                continue
            finished, _ = wait([f for f, _ in running.values()], return_when=FIRST_COMPLETED)
            for tid in [t for t, (f, _) in running.items() if f in finished]:
                f, log = running.pop(tid)
                try:
                    seconds[tid] = f.result()
                except BaseException as e:
                    pool.shutdown(cancel_futures=True)
                    tail = (log.read_text().strip().splitlines() or [""])[-1] if log.exists() else ""
                    why = tail if isinstance(e, SystemExit) or not str(e) else str(e)  # a usage error: its line
                    raise ValueError(f"{tid} failed: {why} (whole log: {log}; rerun study.py to continue)") from None
                done.add(tid), bar.update(), bar.set_postfix_str(tid[-40:])
    bar.close()
    return seconds


# ----------------------------------------------------------------------------- main
def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    size = p.add_mutually_exclusive_group()
    size.add_argument("--quick", dest="scale", action="store_const", const="quick",
                      help="the same grid at a few-minute size (2 seeds, fewer arms and steps)")
    size.add_argument("--tiny", dest="scale", action="store_const", const="tiny",
                      help="seconds, meaningless numbers: the test suite's smoke run")
    p.add_argument("--out", default=None, help="study folder (default runs/study, runs/study-quick, runs/study-tiny)")
    p.add_argument("--report", default=None, help="where study.md and its plots go (default: docs for the full "
                                                  "grid, <out>/report otherwise)")
    p.add_argument("--workers", type=int, default=2, choices=range(1, (os.cpu_count() or 1) + 1),
                   metavar="N", help="processes of one thread each (default 2)")
    p.set_defaults(scale="full")
    args = p.parse_args(argv)
    suffix = "" if args.scale == "full" else f"-{args.scale}"
    args.out = args.out or f"runs/study{suffix}"
    args.report = args.report or ("docs" if args.scale == "full" else str(Path(args.out) / "report"))
    return args


def main(argv=None):
    args = parse_args(argv)
    S, out = SCALES[args.scale], Path(args.out)
    stamp = out / "study.json"
    check_out(out, "--out")
    if out.is_dir() and any(out.iterdir()):
        if not stamp.exists():
            raise ValueError(f"--out {out}: the folder exists and holds no study.json; pass another --out")
        if read_json(stamp, fix=f"delete {out} and rerun study.py").get("scale") != args.scale:
            raise ValueError(f"--out {out} holds a study of another size; pass another --out (or delete {out})")
    out.mkdir(parents=True, exist_ok=True)
    walls = read_json(stamp).get("walls_s", []) if stamp.exists() else []
    write_json(stamp, {"scale": args.scale, "settings": S, "walls_s": walls})
    picked, t0 = {}, time.time()
    seconds = execute(plan(S, out, picked), out, args.workers)
    walls.append(round(time.time() - t0, 1))  # every invocation's wall: the longest is the one that did the work
    write_json(stamp, {"scale": args.scale, "settings": S, "walls_s": walls})
    import report
    path = report.write_study(args.scale, S, out, args.report, picked, lr_arms(S, out), cells(S), walls,
                              {cell: {s: cell_runs(S, out, cell, spec, s, picked) for s in S["seeds"]}
                               for cell, spec in cells(S).items()})
    print(f"study.py: {len(seconds)} tasks in {walls[-1]:.0f} s; report: {path}")


if __name__ == "__main__":
    run_cli(main)
