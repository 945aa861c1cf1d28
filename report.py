"""The report of an evaluation: seeds summarized, verdicts read off the numbers, the table, the four plots, and
the results folder that holds them (write_results).

A verdict never goes further than its numbers: method A "covers more of the trade-off" than B only when

    HV_A - HV_B > 2 * sqrt(se_A^2 + se_B^2)        (less: < -2 * sqrt(...); otherwise "matches")

with HV the normalized hypervolume and se its standard error (metrics.py); over several seeds the table shows
the first seed, and in brackets mean ± sd over seeds (aggregate). Everything here only reads the
numbers evaluate.py computed (`methods`: {name: metrics}, `rows`: one per method and alpha point) and writes
files atomically (runs.atomic_write); nothing is measured here.

    python evaluate.py --runs runs --out results   # writes summary.md and pareto/control/disentanglement/cca.png
"""
import math
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display: must precede pyplot
import matplotlib.pyplot as plt
import numpy as np

from metrics import pareto_mask
from runs import atomic_write, write_json, write_jsonl

COLORS = {"TS-DPO": "tab:blue", "DPO task arithmetic": "tab:orange", "TS-DPO (nonlinear)": "tab:cyan",
          "scalarized DPO": "tab:red", "base": "black"}
OUTPUTS = ("sweep.jsonl", "pareto.png", "control.png", "disentanglement.png", "cca.png", "summary.md", "summary.json")


# ----------------------------------------------------------------------------- seeds and verdicts
def aggregate(per_seed):
    """Per method: the first seed's metrics (the table), plus mean and sd over seeds of every numeric metric
    (the table's brackets) and n_seeds. per_seed: evaluate.evaluate_seed's results, one per seed."""
    methods = {}
    for name in per_seed[0]["methods"]:
        ms = [o["methods"][name] for o in per_seed if name in o["methods"]]
        agg = dict(ms[0])
        for key, v in ms[0].items():
            if isinstance(v, (int, float)) and len(ms) > 1:
                vals = [m[key] for m in ms if key in m]
                agg[f"{key}_seeds_mean"], agg[f"{key}_seeds_sd"] = float(np.mean(vals)), float(np.std(vals, ddof=1))
        agg["n_seeds"] = len(ms)
        methods[name] = agg
    return methods


def compare(hv_a, se_a, hv_b, se_b, name_a, name_b):
    """A sentence from the numbers: a covers more than b when hv_a - hv_b > 2 * sqrt(se_a^2 + se_b^2), etc."""
    diff, se = hv_a - hv_b, math.sqrt(se_a ** 2 + se_b ** 2)
    if diff > 2 * se:
        verdict = "covers more of the trade-off than"
    elif diff < -2 * se:
        verdict = "covers less of the trade-off than"
    else:
        verdict = "matches (within 2 standard errors)"
    return f"{name_a} {verdict} {name_b}: HV {hv_a:.3f} +- {se_a:.3f} vs {hv_b:.3f} +- {se_b:.3f} (diff {diff:+.3f})."


def verdicts(methods, args):
    """Plain sentences from the numbers (never hard-coded). With several seeds, HV is the mean over seeds and
    its se the larger of the first seed's se and sd / sqrt(n_seeds)."""
    out = []
    ts = methods.get("TS-DPO")
    hv = lambda m: (m.get("hv_seeds_mean", m["hv"]),
                    max(m["hv_se"], m.get("hv_seeds_sd", 0.0) / math.sqrt(max(1, m.get("n_seeds", 1)))))
    if ts is None:
        return ["TS-DPO was not evaluated (no tangent runs); no comparison is made."]
    for other in ("scalarized DPO", "DPO task arithmetic", "TS-DPO (nonlinear)", "base"):
        if other in methods:
            out.append(compare(*hv(ts), *hv(methods[other]), "TS-DPO", other))
    if "scalarized DPO" in methods:
        out.append(f"Point counts differ (TS-DPO {ts['n_points']} grid points, scalarized DPO "
                   f"{methods['scalarized DPO']['n_points']} runs); more points can only add hypervolume, and each "
                   f"scalarized point costs a training run while the grid costs none.")
    if "DPO task arithmetic" in methods:
        ta = methods["DPO task arithmetic"]
        word = "lower (more disentangled)" if ts["xi_mean"] < ta["xi_mean"] else "not lower"
        out.append(f"Disentanglement error: TS-DPO mean xi {ts['xi_mean']:.3f} vs task arithmetic {ta['xi_mean']:.3f}: "
                   f"TS-DPO's is {word}.")
        for obj in (args.maximize, args.minimize):
            out.append(f"Control of {obj}: Spearman {ts[f'spearman_{obj}']:.2f} (TS-DPO) vs "
                       f"{ta[f'spearman_{obj}']:.2f} (task arithmetic); max jump {ts[f'max_jump_{obj}']:.2f} vs "
                       f"{ta[f'max_jump_{obj}']:.2f} (lower = smoother; 1/(P-1) = {1 / (args.control[2] - 1):.2f} is even).")
    return out


# ----------------------------------------------------------------------------- the summary table
def summary_markdown(methods, args, notes, timings):
    """summary.md: setup, one row per method (first seed; brackets: mean ± sd over seeds), verdicts, conventions."""
    a, b = args.maximize, args.minimize
    pm = lambda m, k, f: (f"{m[k]:{f}}" + (f" ({m[k + '_seeds_mean']:{f}} ± {m[k + '_seeds_sd']:{f}})"
                                         if k + "_seeds_sd" in m else "")) if k in m and m[k] == m[k] else "–"
    head = (f"| method | HV ± se | #non-dom / points | coverage {a} | coverage {b} | Spearman {a} / {b} | "
            f"max jump {a} / {b} | well-formed mean / min | xi mean | CCA shift-shift | CCA {a}-labels / {b}-labels |")
    lines = [f"# Evaluation: maximize {a}, minimize {b}", "",
             f"Scorer `{args.scorer}`; {args.n_prompts} held-out prompts, 1 sample each, temperature 1, top-p {args.top_p:g}, "
             f"{args.max_new_tokens} new tokens; HV on the box {a} {args.bounds[0]} x {b} {args.bounds[1]} "
             f"normalized to [0, 1], reference point {a}={args.ref[0]:g}, {b}={args.ref[1]:g} (the worst corner). "
             f"Grid alpha_{a} in {args.alphas_a} x alpha_{b} in {args.alphas_b}; control sweeps "
             f"{args.control[0]:g}..{args.control[1]:g} in {int(args.control[2])} steps. "
             + (f"Seeds {args.seeds}: the table shows seed {args.seeds[0]}, brackets the mean ± sd over seeds."
              if args.seeds else "Runs of seed 0 (one seed)."), "",
             head, "|" + "---|" * (head.count("|") - 1)]
    for name, m in methods.items():
        hv = f"{m['hv']:.3f} ± {m['hv_se']:.3f}" + (f" ({m['hv_seeds_mean']:.3f} ± {m['hv_seeds_sd']:.3f})"
                                                      if "hv_seeds_sd" in m else "")
        lines.append(f"| {name} | {hv} | {m['n_front']} / {m['n_points']} | {m[f'coverage_{a}']:.2f} | "
                     f"{m[f'coverage_{b}']:.2f} | {pm(m, f'spearman_{a}', '.2f')} / {pm(m, f'spearman_{b}', '.2f')} | "
                     f"{pm(m, f'max_jump_{a}', '.2f')} / {pm(m, f'max_jump_{b}', '.2f')} | "
                     f"{pm(m, 'well_formed_mean', '.2f')} / {pm(m, 'well_formed_min', '.2f')} | {pm(m, 'xi_mean', '.3f')} | "
                     f"{pm(m, 'cca_shift_vs_shift', '.2f')} | {pm(m, f'cca_{a}_vs_labels', '.2f')} / "
                     f"{pm(m, f'cca_{b}_vs_labels', '.2f')} |")
    lines += ["", "## What the numbers say", ""] + [f"- {s}" for s in verdicts(methods, args)]
    lines += ["", "## Conventions", "",
              "- xi(a1, a2) = sum over tasks with a_t != 0 of the preference-sign disagreement rate on that task's "
              "held-out pairs between the single-vector and the composed model; xi(a, 0) = xi(0, b) = 0 by convention.",
              "- Spearman/max jump: the vector's own attribute along its 1-D sweep (scalarized DPO: along the weight w).",
              "- CCA: leading canonical correlation of last-layer, mean-pooled (prompt + response) hidden-state shifts on "
              f"{args.n_cca} held-out rows, each side reduced to {args.cca_k} principal components; tangent shifts by jvp "
              "in the linearized model, standard ones in the nonlinear model. Chance levels (permuted rows) are in summary.json.",
              "- The base has zero implicit margin, so its pair accuracy is not reported.",
              f"- A malformed response counts as the worst on both axes ({a} 0, {b} at the top of the scale); "
              "well-formed mean / min is the fraction of well-formed responses over a method's grid points.",
              "- Sampling: every nonlinear point is one generate call with the same seed (common random numbers until "
              "the texts diverge); the linearized points share one batch with independent draws. Judge differences "
              "between neighbouring points against their standard errors (sweep.jsonl)."]
    if notes:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in notes]
    lines += ["", "## Timings (s)", "", ", ".join(f"{k} {v:.1f}" for k, v in timings.items())]
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- plots
def savefig(fig, path):
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=130, bbox_inches="tight"))
    plt.close(fig)


def legend(ax, **kw):
    if ax.get_legend_handles_labels()[0]:  # e.g. no composed method was evaluated: an empty panel, no legend
        ax.legend(**kw)


def plot_pareto(rows, args, path):
    """pareto.png: every grid / scalarized / base point (mean ± se on both axes) and each method's front."""
    a, b = args.maximize, args.minimize
    fig, ax = plt.subplots(figsize=(7, 5.5))
    for name in dict.fromkeys(r["method"] for r in rows):
        pts = [r for r in rows if r["method"] == name and r["sweep"] in ("grid", "scalarized", "base")]
        x = np.array([r["scores"][a]["mean"] for r in pts]); xe = [r["scores"][a]["se"] for r in pts]
        y = np.array([r["scores"][b]["mean"] for r in pts]); ye = [r["scores"][b]["se"] for r in pts]
        c = COLORS.get(name, None)
        ax.errorbar(x, y, xerr=xe, yerr=ye, fmt="*" if name == "base" else "o", ms=12 if name == "base" else 5,
                    color=c, alpha=0.8, capsize=2, label=name, lw=0.8)
        if len(pts) > 1:
            f = pareto_mask(np.column_stack([x, y]), (True, False))
            order = np.argsort(x[f])
            ax.step(x[f][order], y[f][order], where="post", color=c, lw=2)
        if name == "scalarized DPO":
            for r, xi, yi in zip(pts, x, y):
                ax.annotate(f"w={r['w']:g}", (xi, yi), fontsize=8, color=c, xytext=(3, 3), textcoords="offset points")
    unit = "oracle score (0-4)" if args.scorer == "toy" else f"score ({args.scorer})"
    ax.set_xlabel(f"{a}: {unit}, higher is better")
    ax.set_ylabel(f"{b}: {unit}, lower is better")
    ax.set_xlim(*args.bounds[0]); ax.set_ylim(*args.bounds[1])
    ax.set_title("Pareto fronts (mean ± se; lines: non-dominated points)")
    legend(ax, fontsize=9); ax.grid(alpha=0.3)
    savefig(fig, path)


def plot_control(methods, args, path):
    """control.png: each vector's own attribute along its 1-D alpha sweep, one panel per objective."""
    objs = (args.maximize, args.minimize)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    for ax, obj in zip(axes, objs):
        for name, m in methods.items():
            if f"curve_{obj}" not in m:
                continue
            c = m[f"curve_{obj}"]
            ax.errorbar(c["alpha"], c["mean"], yerr=c["se"], marker="o", capsize=2, color=COLORS.get(name),
                        label=f"{name} (rho {m[f'spearman_{obj}']:.2f}, jump {m[f'max_jump_{obj}']:.2f})")
        ax.set_xlabel(f"alpha on the {obj} vector (other vectors at 0)")
        ax.set_ylabel(f"{obj}: oracle score (0-4)" if args.scorer == "toy" else f"{obj} ({args.scorer})")
        ax.set_title(f"control of {obj}")
        legend(ax, fontsize=8); ax.grid(alpha=0.3)
    savefig(fig, path)


def plot_xi(xi, args, path):
    """disentanglement.png: xi over the (alphas_a, alphas_b) grid, one heatmap per composed method."""
    names = list(xi) or ["(none)"]
    vmax = max([np.max(v) for v in xi.values()] + [1e-9])
    fig, axes = plt.subplots(1, len(names), figsize=(4.6 * len(names), 4.2), squeeze=False)
    im = None
    for ax, name in zip(axes[0], names):
        if name not in xi:
            ax.axis("off"); continue
        v = np.asarray(xi[name])
        im = ax.imshow(v, origin="lower", cmap="viridis", vmin=0, vmax=vmax, aspect="auto")
        for i in range(v.shape[0]):
            for j in range(v.shape[1]):
                ax.text(j, i, f"{v[i, j]:.2f}", ha="center", va="center", fontsize=7,
                        color="white" if v[i, j] < vmax / 2 else "black")
        ax.set_xticks(range(len(args.alphas_b)), [f"{x:g}" for x in args.alphas_b])
        ax.set_yticks(range(len(args.alphas_a)), [f"{x:g}" for x in args.alphas_a])
        ax.set_xlabel(f"alpha {args.minimize}"); ax.set_ylabel(f"alpha {args.maximize}")
        ax.set_title(f"{name}\nmean xi {v.mean():.3f}")
    if im is not None:
        fig.colorbar(im, ax=axes[0].tolist(), label="disentanglement error xi (0-2)")
    savefig(fig, path)


def plot_cca(cca_res, args, path):
    """cca.png: leading canonical correlations per method, with the permutation chance level."""
    a, b = args.maximize, args.minimize
    keys = [("shift_vs_shift", f"shift {a} vs shift {b}"), (f"{a}_vs_labels", f"shift {a} vs labels"),
            (f"{b}_vs_labels", f"shift {b} vs labels")]
    fig, ax = plt.subplots(figsize=(8, 4.5))
    names = list(cca_res)
    w = 0.8 / max(1, len(names))
    for i, name in enumerate(names):
        vals = [cca_res[name].get(k, [np.nan])[0] for k, _ in keys]
        chance = [cca_res[name].get(k + "_chance", [np.nan])[0] for k, _ in keys]
        xs = np.arange(len(keys)) + i * w
        ax.bar(xs, vals, w, color=COLORS.get(name), label=name)
        ax.scatter(xs, chance, color="k", marker="_", s=200, zorder=3, label="chance (rows permuted)" if i == 0 else None)
    ax.set_xticks(np.arange(len(keys)) + w * (len(names) - 1) / 2, [k[1] for k in keys])
    ax.set_ylabel("leading canonical correlation")
    ax.set_ylim(0, 1.05); legend(ax, fontsize=8); ax.grid(alpha=0.3, axis="y")
    ax.set_title(f"CCA of hidden-state shifts (last layer, mean-pooled, {args.cca_k} PCs per side)")
    savefig(fig, path)


# ----------------------------------------------------------------------------- the results folder
def write_results(args, per_seed, methods, notes, timings, runs, t0):
    """Every output of evaluate.py into args.out, atomically; the plots show the first seed.

    per_seed: evaluate_seed's results; methods: aggregated over seeds; runs: {seed: {what: folder}} evaluated.
    An old summary is removed first and the new summary.json is written last, so a results folder with a
    summary.json always holds one finished evaluation, never a half-replaced one."""
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for f in ("summary.json", "summary.md"):
        (out / f).unlink(missing_ok=True)
    t = time.time()
    write_jsonl(out / "sweep.jsonl", [r for o in per_seed for r in o["rows"]])
    first = per_seed[0]
    plot_pareto(first["rows"], args, out / "pareto.png")
    plot_control(first["methods"], args, out / "control.png")
    plot_xi(first["xi"], args, out / "disentanglement.png")
    plot_cca(first["cca"], args, out / "cca.png")
    timings["plots"] = time.time() - t
    timings["total"] = time.time() - t0
    key = lambda s: s if s is not None else "-"
    config = {k: v for k, v in vars(args).items() if k != "scorer_fn"}
    summary = {"config": config, "methods": methods, "verdicts": verdicts(methods, args), "notes": notes,
               "xi": {key(o["seed"]): o["xi"] for o in per_seed}, "cca": {key(o["seed"]): o["cca"] for o in per_seed},
               "runs": runs, "timings_s": timings}
    md = summary_markdown(methods, args, notes, timings)
    atomic_write(out / "summary.md", md)
    write_json(out / "summary.json", summary)
    print(md)
    print(f"wrote {args.out}/{' '.join(OUTPUTS)} in {timings['total']:.0f}s")


def plot_curves(rows, path):
    """A training run's curves.png: loss and reward accuracy per step, train and held-out."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for ax, key in zip(axes, ("loss", "rewards/accuracies")):
        for prefix, style in (("", "-"), ("eval/", "o-")):
            pts = [(r["step"], r[prefix + key]) for r in rows if prefix + key in r]
            if pts:
                ax.plot(*zip(*pts), style, label=("eval " if prefix else "train ") + key, alpha=0.8)
        ax.set_xlabel("step"), ax.set_title(key), ax.legend()
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=90))
    plt.close(fig)
