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

    python -m lab.study                  # the full grid: make study (56 min from a fresh clone on 2 cores, budget 60)
    python -m lab.study --quick          # the same grid, smaller: 12 min on 2 cores
    python -m lab.study --tiny --out /tmp/s    # seconds, meaningless numbers: what the test suite runs
Outputs: --out (default runs/study[-quick|-tiny]): bases/, runs/, results/<cell>/ (evaluate.py's folders),
logs/<task>.log, study.json; the report: --report (default docs for the full grid, else <out>/report):
study.md and study-*.png (write_study below; the figures are in measure/plots.py).
"""
import contextlib
import json
import multiprocessing
import os
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path

import numpy as np
from tqdm import tqdm

from measure.metrics import mean_present, mean_se
from measure.plots import plot_study_bars, plot_study_cca, plot_study_control, plot_study_hv
from measure.report import chance_line, family_verdicts, fmt_num
from plumbing.cli import Parser, run_cli
from plumbing.run_folder import atomic_write, check_out, newer_than, read_config, read_json, write_json

A, B = "helpfulness", "verbosity"
SCALES = {  # every size of the same grid; a cell list, flags and seeds per scale
    "full": dict(  # 56 min from a fresh clone on 2 cores (70 min with gelu_new bases and 48 prompts and pairs)
        seeds=(0, 1, 2), correlations=(0.0, 0.5, 0.9), weights=(0.0, 0.5),
        small=dict(steps=1500), wide=dict(d_model=256, n_layer=5, n_head=8, steps=600),
        base_flags=[], train_flags=["--eval-every", "120", "--save-every", "120"], steps=120,
        lrs={"tangent": (1e-4, 2e-4, 4e-4), "standard": (5e-5, 1e-4, 2e-4)},
        rich=dict(lr=4e-4, steps=120),  # measured: gap 0.59 at alpha = 1 on the demo base (5e-5: 0.09)
        eval_flags=["--n-prompts", "40", "--n-samples", "1", "--n-pairs", "40", "--n-cca", "96"]),
    "quick": dict(
        seeds=(0, 1), correlations=(0.0, 0.9), weights=(0.0, 0.5),
        small=dict(steps=300), wide=dict(d_model=192, n_layer=4, n_head=6, steps=150),
        base_flags=["--eval-prompts", "32"], train_flags=["--eval-pairs", "64", "--eval-every", "40"], steps=40,
        lrs={"tangent": (2e-4, 8e-4), "standard": (5e-5, 2e-4)}, rich=dict(lr=8e-4, steps=80),
        eval_flags=["--n-prompts", "24", "--n-pairs", "32", "--n-cca", "32", "--n-boot", "300"]),
    "tiny": dict(
        seeds=(0, 1), correlations=(), weights=(0.5,),
        small=dict(d_model=32, n_layer=1, n_head=2, steps=6), wide=dict(d_model=48, n_layer=1, n_head=2, steps=6),
        base_flags=["--eval-prompts", "4", "--n-prompts", "100", "--batch-size", "8"],
        train_flags=["--limit", "100", "--batch-size", "4", "--eval-pairs", "8", "--eval-every", "3"], steps=3,
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
        raise ValueError(f"{d}/metrics.jsonl: no held-out evaluation; delete {d} and rerun python -m lab.study")
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
    if newer_than(res / "summary.json", [d / "config.json" for ds in folders.values() for d in ds]):
        print(f"lab.study: {res} is newer than its runs, reused")
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
                    raise RuntimeError(f"lab.study: tasks wait on each other: {sorted(set(tasks) - done)[:3]}")
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
                    raise ValueError(f"{tid} failed: {why} (whole log: {log}; rerun python -m lab.study to continue)") from None
                done.add(tid), bar.update(), bar.set_postfix_str(tid[-40:])
    bar.close()
    return seconds


# ----------------------------------------------------------------------------- the report (docs/study.md)
STUDY_CLAIMS = (("1. coverage", "hv", "HV, full grid"), ("1. coverage", "hv_eq", "HV, equal budget"),
                ("2. control", "spearman_{a}", "Spearman of {a} along its alpha (scalarized: along w)"),
                ("2. control", "spearman_{b}", "Spearman of {b} along its alpha (scalarized: along w)"),
                ("3. disentanglement", "xi_ctrl", "xi, controlled pairs"), ("3. disentanglement", "xi", "xi, all pairs"))
VERSUS = ("DPO task arithmetic", "scalarized DPO")


def write_study(scale, S, out, report_dir, picked, arms, cells, walls, folders, a="helpfulness", b="verbosity"):
    """docs/study.md and its figures from the cells' summary.json (evaluate.py) and the runs' configs."""
    out, rep = Path(out), Path(report_dir)
    rep.mkdir(parents=True, exist_ok=True)
    summ = {c: read_json(out / "results" / c / "summary.json", fix=f"delete {out / 'results' / c} and rerun python -m lab.study")
            for c in cells}
    seeds = S["seeds"]
    L = ["# The study: where, if anywhere, does TS-DPO beat DPO?", "",
         f"Generated by `python -m lab.study{'' if scale == 'full' else ' --' + scale}` ({len(seeds)} seeds: {list(seeds)}); the "
         f"invocation that did the work took {max(walls) / 60:.1f} min wall (later ones reuse it: "
         f"{', '.join(f'{w:.0f} s' for w in walls)}). Every difference is TS-DPO minus the other method on the same "
         "prompts (pairs for xi), a paired bootstrap over seeds then prompts, 95% CI. A claim **holds** where the CI "
         "lies on TS-DPO's better side of 0, **fails** where it lies on the worse side, and is **not detectable** "
         "where it covers 0.", ""]
    # --- verdict table
    L += ["## Verdicts", "", "A family is one claim x one comparison across the regimes (a column of one quantity below). "
          "Within it, Holm's step-down rule on each row's two-sided p (Student t on the paired bootstrap's se, "
          "measure/metrics.studentized_p) keeps a side only where the adjusted p < 0.05 as well: then the chance that "
          "any row of the family takes a side when nothing differs is at most 5%. The raw 95% CI stays in the table; "
          "the verdict columns are the adjusted ones, with the raw verdict in brackets where it differs. "
          "**degenerate** marks a statistic that cannot move (a zero-width CI, a Spearman over 3 or fewer points).", "",
          "| claim | quantity | regime | TS-DPO − DPO task arithmetic [95% CI] | verdict (adjusted) | "
          "TS-DPO − scalarized DPO [95% CI] | verdict (adjusted) |", "|---|---|---|---|---|---|---|"]
    hv_rows, tally, raw_all = [], {}, []
    for claim, key, label in STUDY_CLAIMS:
        key, label = key.format(a=a, b=b), label.format(a=a, b=b)
        family = {vs: [next((c for c in summ[cell]["comparisons"]
                             if c["a"] == "TS-DPO" and c["b"] == vs and c["quantity"] == key), None) for cell in cells]
                  for vs in VERSUS}
        judged = {vs: iter(family_verdicts([c for c in cs if c is not None])) for vs, cs in family.items()}
        for i, (cell, spec) in enumerate(cells.items()):
            row = [claim, label, f"{cell} (r = {spec['r']:g})"]
            for vs in VERSUS:
                c = family[vs][i]
                if c is None:
                    row += ["–", "–"]
                    continue
                raw, v, _ = next(judged[vs])
                tally.setdefault((claim, vs), []).append(v)
                raw_all.append(raw)
                row += [f"{c['diff']:+.3f} [{c['lo']:+.3f}, {c['hi']:+.3f}]", v + (f" (raw: {raw})" if raw != v else "")]
                if key in ("hv", "hv_eq"):
                    hv_rows.append({"cell": cell, "regime": "matched" if cell.startswith("corr") else cell,
                                    "r": spec["r"], "vs": vs, "quantity": key, **c})
            L.append("| " + " | ".join(row) + " |")
    L += ["", chance_line(raw_all), "", "In words, adjusted (counting every row of the claim: regimes x quantities):", ""]
    for (claim, vs), vs_v in tally.items():
        L.append(f"- {claim}, TS-DPO vs {vs}: " + ", ".join(f"{n} {v}" for v in ("holds", "fails", "not detectable",
                                                                                 "degenerate", "not measured")
                                                              if (n := vs_v.count(v))) + f" (of {len(vs_v)}).")
    # --- each arm: scale, KL, gap, cosines
    L += ["", "## Regimes: every arm's KL and linearization gap", "",
          "Per vector, mean over seeds: its own KL at alpha = 1 as trained, the scale --calibrate kl applied (alpha = 1 "
          "then spends the cell's standard-DPO KL), and the linearization gap ||f(theta0 + alpha tau) - f_lin|| / "
          "||f(theta0 + alpha tau) - f0|| of the scaled vector. The rich arm asks for a gap >= 0.3 at alpha = 1.", "",
          "| regime | arm | lr | steps | objective | KL at alpha=1 as trained | scale | gap at 0.5 / 1 / 2 | "
          "cos(TS, DPO) |", "|---|---|---|---|---|---|---|---|---|"]
    gaps, xi_bars = {}, {}
    for cell, spec in cells.items():
        per = summ[cell]["per_seed"].values()
        std = (picked["standard"], S["steps"]) if spec["standard"] == "picked" else spec["standard"]
        for name, (lr, steps) in (("TS-DPO", (picked["tangent"], S["steps"])), ("DPO task arithmetic", std)):
            for obj in (a, b):
                v = [p["vectors"].get(f"{name}/{obj}", {}) for p in per]
                g = {x: mean_present([u.get("gap", {}).get(x) for u in v]) for x in ("0.5", "1", "2")}
                cos = mean_present([p["cosines"].get(f"{obj}: TS-DPO vs DPO task arithmetic") for p in per])
                L.append(f"| {cell} | {name} | {lr:g} | {steps} | {obj} | {mean_present([u.get('kl_at_1_raw') for u in v]):.4f}"
                         f" | {mean_present([u.get('scale') for u in v]):.2f} | {g['0.5']:.3f} / {g['1']:.3f} / {g['2']:.3f} "
                         f"| {cos:.2f} |")
                gaps.setdefault(cell, {})[f"{name} / {obj}"] = (g["1"], float(np.std([u.get("gap", {}).get("1", np.nan)
                                                                                    for u in v])))
        for name in ("TS-DPO", "DPO task arithmetic"):
            m = summ[cell]["methods"].get(name, {})
            xi_bars.setdefault(cell, {})[name] = (m.get("xi_ctrl", np.nan), m.get("xi_ctrl_se", 0.0))
    # --- the bases
    L += ["", "## The bases", "", "SFT on the default world's train-split prompts (base_model.py); scores of samples "
          "(temperature 1, top-p 0.95) on held-out prompts, mean ± se.", "",
          f"| base | parameters | SFT steps | train s | well-formed | {a} | {b} |", "|---|---|---|---|---|---|---|"]
    for d in sorted((out / "bases").iterdir()):
        cfg, sc = read_json(d / "train_config.json"), read_json(d / "base_scores.json")
        L.append(f"| {d.name} | {cfg['n_params'] / 1e6:.2f}M | {cfg['steps']} | {cfg['train_seconds']:.0f} | "
                 f"{sc['well_formed']:.3f} | {sc[a]['mean']:.2f} ± {sc[a]['se']:.2f} | "
                 f"{sc[b]['mean']:.2f} ± {sc[b]['se']:.2f} |")
    # --- learning rates
    L += ["", "## Learning rates: every arm", "",
          f"Both objectives x {len(seeds)} seeds per arm, {S['steps']} steps, r = 0.75, the 0.94M base. Criterion, the "
          "same for both modes: the highest held-out reward accuracy after the same number of steps (mean over seeds "
          "and objectives; ties: the lower held-out DPO loss).", "",
          "| mode | lr | held-out accuracy ± se | held-out DPO loss | held-out margin | train s (all runs) | picked |",
          "|---|---|---|---|---|---|---|"]
    for r in arms:
        L.append(f"| {r['mode']} | {r['lr']:g} | {r['acc']:.3f} ± {r['acc_se']:.3f} | {r['loss']:.3f} | "
                 f"{r['margin']:.3f} | {r['seconds']:.0f} | {'yes' if picked.get(r['mode']) == r['lr'] else ''} |")
    # --- per-cell method numbers
    L += ["", "## Per regime: the methods", "", f"| regime | method | HV ± se | HV / ideal | HV equal budget | "
          f"Spearman {a} / {b} | xi controlled ± se | KL at alpha=1 {a} / {b} | well-formed min |",
          "|---|---|---|---|---|---|---|---|---|"]
    for cell in cells:
        for name, m in summ[cell]["methods"].items():
            L.append(f"| {cell} | {name} | {fmt_num(m.get('hv'))} ± {fmt_num(m.get('hv_se'))} | {fmt_num(m.get('hv_rel_ideal'), '.2f')} "
                     f"| {fmt_num(m.get('hv_eq'))} | {fmt_num(m.get(f'spearman_{a}'), '.2f')} / {fmt_num(m.get(f'spearman_{b}'), '.2f')}"
                     f" | {fmt_num(m.get('xi_ctrl'))} ± {fmt_num(m.get('xi_ctrl_se'))} | {fmt_num(m.get(f'kl_at_1_{a}'), '.4f')} / "
                     f"{fmt_num(m.get(f'kl_at_1_{b}'), '.4f')} | {m['well_formed_min']:.2f} |")
    # --- cost
    L += ["", "## Cost", "", "Training runs and their seconds per method (all seeds; a run shared by two regimes "
          "counts in both), and the alpha points each method evaluates per training run (one seed).", "",
          "| regime | method | runs | train s | points | points per run |", "|---|---|---|---|---|---|"]
    for cell in cells:
        cfgs = [read_config(d) for ds in folders[cell].values() for d in ds]
        npts = {name: len(m.get("kl", [])) for name, m in _first_seed_points(out / "results" / cell).items()}
        for name, pick in (("TS-DPO", lambda c: c["mode"] == "tangent"),
                           ("DPO task arithmetic", lambda c: c["mode"] == "standard" and c["objective"]),
                           ("scalarized DPO", lambda c: c["mode"] == "standard" and not c["objective"])):
            sel = [c for c in cfgs if pick(c)]
            n_runs = len(sel) // len(seeds) + (1 if name == "scalarized DPO" else 0)  # + plain DPO on a, reused
            L.append(f"| {cell} | {name} | {len(sel)} | {sum(c.get('train_seconds', 0) for c in sel):.0f} | "
                     f"{npts.get(name, 0)} | {npts.get(name, 0) / max(n_runs, 1):.1f} |")
    spent = {"bases": sum(read_json(d / "train_config.json")["total_seconds"] for d in (out / "bases").iterdir()),
             "training runs": sum(read_config(d.parent).get("train_seconds", 0.0)
                                  for d in (out / "runs").rglob("config.json")),
             "evaluations": sum(summ[c]["timings_s"]["total"] for c in cells)}  # each as its own task measured it
    L += ["", "Worker seconds, as each base, run and evaluation measured itself: " +
          ", ".join(f"{k} {v:.0f} s" for k, v in spent.items()) + f" ({sum(spent.values()):.0f} s in all); wall "
          f"{max(walls):.0f} s with {len(seeds)} seeds."]
    # --- figures
    curves, spectra = {}, {}
    for cell in ("matched", "rich", "wide"):
        if cell in cells:
            curves[cell] = _control_curves(out / "results" / cell, a, b)
            first = next(iter(summ[cell]["per_seed"].values()))
            spectra[cell] = {n: r["shift_vs_shift"] for n, r in first["cca"].items()}
    plot_study_hv(hv_rows, rep / "study-hv.png")
    plot_study_control(curves, rep / "study-control.png")
    plot_study_bars(xi_bars, "xi on controlled pairs (± se)", rep / "study-xi.png")
    plot_study_cca(spectra, rep / "study-cca.png")
    plot_study_bars(gaps, "linearization gap at alpha = 1 (± sd over seeds)", rep / "study-gap.png", line=0.3)
    L += ["", "## Figures", "", "![HV difference against correlation](study-hv.png)", "",
          "![control against KL](study-control.png)", "", "![xi on controlled pairs](study-xi.png)", "",
          "![CCA spectra against their null](study-cca.png)", "", "![linearization gap per arm](study-gap.png)", "",
          "## Caveats", "",
          "- A toy world with an exact oracle and tiny models trained from scratch (0.94M and about 4M parameters): "
          "not a pretrained LM, whose fine-tuning is what the paper's tangent-space argument is about.",
          "- One base per (size, seed) serves every correlation: its SFT data is the default world (r = 0.75); only the "
          "preference data's correlation moves.",
          "- The learning rates are picked on the 0.94M base at r = 0.75 and reused in the other regimes.",
          f"- {len(seeds)} seeds and the evaluation's prompts (see each cell's summary.md under "
          f"{out}/results/) bound the CIs; a difference smaller than their width is not detectable here.",
          "- HelpSteer would need: a reward model or human labels as the scorer (evaluate.py --scorer hf:...), a "
          "pretrained base with its chat template, and a GPU for the generations; the code paths exist, the budget here "
          "does not."]
    atomic_write(rep / "study.md", "\n".join(L) + "\n")
    return rep / "study.md"


def _first_seed_points(res):
    """{method: {"kl": [...]}} of the first seed's rows in a results folder's sweep.jsonl."""
    rows = [json.loads(x) for x in (Path(res) / "sweep.jsonl").read_text().splitlines() if x.strip()]
    first, by = rows[0]["seed"], {}
    for r in rows:
        if r["seed"] == first:
            by.setdefault(r["method"], {"kl": []})["kl"].append(r["kl"])
    return by


def _control_curves(res, a, b):
    """{method: {obj: (alphas, KL, mean score)}} along each vector's control sweep, first seed (sweep.jsonl)."""
    rows = [json.loads(x) for x in (Path(res) / "sweep.jsonl").read_text().splitlines() if x.strip()]
    first, out = rows[0]["seed"], {}
    for r in rows:
        for obj in (a, b):
            if r["seed"] == first and f"control_{obj}" in r.get("sweeps", []):
                c = out.setdefault(r["method"], {}).setdefault(obj, ([], [], []))
                c[0].append(r["alphas"][obj]), c[1].append(r["kl"]), c[2].append(r["scores"][obj]["mean"])
    return {m: {o: tuple(zip(*sorted(zip(*c)))) for o, c in per.items()} for m, per in out.items()}


# ----------------------------------------------------------------------------- main
def parse_args(argv=None):
    p = Parser(description=__doc__.split("\n\n")[0])
    size = p.add_mutually_exclusive_group()
    size.add_argument("--quick", dest="scale", action="store_const", const="quick",
                      help="the same grid, smaller (2 seeds, fewer arms and steps): 12 min on 2 cores")
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
        if read_json(stamp, fix=f"delete {out} and rerun python -m lab.study").get("scale") != args.scale:
            raise ValueError(f"--out {out} holds a study of another size; pass another --out (or delete {out})")
    out.mkdir(parents=True, exist_ok=True)
    walls = read_json(stamp).get("walls_s", []) if stamp.exists() else []
    write_json(stamp, {"scale": args.scale, "settings": S, "walls_s": walls})
    picked, t0 = {}, time.time()
    seconds = execute(plan(S, out, picked), out, args.workers)
    walls.append(round(time.time() - t0, 1))  # every invocation's wall: the longest is the one that did the work
    write_json(stamp, {"scale": args.scale, "settings": S, "walls_s": walls})
    path = write_study(args.scale, S, out, args.report, picked, lr_arms(S, out), cells(S), walls,
                              {cell: {s: cell_runs(S, out, cell, spec, s, picked) for s in S["seeds"]}
                               for cell, spec in cells(S).items()})
    print(f"lab.study: {len(seconds)} tasks in {walls[-1]:.0f} s; report: {path}")


if __name__ == "__main__":
    run_cli(main)
