"""The report of an evaluation: per-method numbers and paired comparisons from what evaluate.py measured, the
summary table, and the results folder that holds it and the plots (measure/plots.py) (write_results).

A verdict never goes further than its numbers. Every method difference D = q(A) - q(B) of a quantity q is a
paired bootstrap (metrics.paired_bootstrap): prompts (or held-out pairs, for pair metrics) are resampled with
replacement, the SAME resample for both methods, and with several seeds the seeds first (two levels):

    D*_b = mean over resampled seeds s of [ q(A_s; resampled prompts) - q(B_s; same prompts) ],  b = 1..n_boot
    95% CI = [2.5th, 97.5th percentile of D*],  verdict = metrics.verdict(lo, hi): "higher" if lo > 0,
    "lower" if hi < 0, else "no difference detected" (never from a sign).

Quantities: HV on the full grid and at equal budget (metrics.hypervolume_2d over the points' mean scores),
Spearman and max jump along each control sweep, xi (mean over grid cells where both alphas are nonzero, all
and controlled pairs), implicit-reward accuracy at alpha = 1. Nothing is measured here; files are written
atomically (plumbing.run_folder.atomic_write), summary.json last.

    python evaluate.py --runs runs --out results   # writes summary.md, sweep.jsonl and the plots
"""
import math
import time
from pathlib import Path

import numpy as np

from measure.metrics import (chance_count, coverage, disentanglement_error, holm, hypervolume_2d, hypervolume_se,
                             max_jump, paired_bootstrap, pareto_mask, spearman, standard_error, verdict)
from measure.plots import MX, mean_points, plot_cca, plot_control, plot_pareto, plot_xi, select_points
from plumbing.run_folder import atomic_write, write_json, write_jsonl

OUTPUTS = ("sweep.jsonl", "pareto.png", "control.png", "disentanglement.png", "cca.png", "summary.md", "summary.json")
COMPOSED = ("TS-DPO", "DPO task arithmetic", "TS-DPO (nonlinear)")


# ----------------------------------------------------------------------------- quantities of one method
def _xi_parts(args, m, kind):
    """Per grid cell with both alphas nonzero, (C, n) sign disagreements on each objective's pairs, and the full
    (A, B) xi grid (cells with a zero alpha: metrics' convention, 0) for the heatmap."""
    if kind not in m.setdefault("cache", {}):
        M, n = m["pairs"][kind]["margins"], m["pairs"][kind]["n"]
        pos = {tuple(p): i for i, p in enumerate(m["points"])}
        grid, da, db = np.zeros((len(args.alphas_a), len(args.alphas_b))), [], []
        for i, x in enumerate(args.alphas_a):
            for j, y in enumerate(args.alphas_b):
                joint, sa, sb = pos[(x, y)], pos[(x, 0.0)], pos[(0.0, y)]
                grid[i, j] = disentanglement_error(M[sa, :n], M[sb, n:], M[joint, :n], M[joint, n:], x, y)
                if x != 0 and y != 0:
                    da.append((M[sa, :n] > 0) != (M[joint, :n] > 0))
                    db.append((M[sb, n:] > 0) != (M[joint, n:] > 0))
        m["cache"][kind] = (np.array(da, dtype=float), np.array(db, dtype=float), grid)
    return m["cache"][kind]


def quantities(args):
    """{key: (label, unit, better, q(m, idx) -> float, applies(m) -> bool)}; unit: "prompts" or a pair set."""
    a, b = args.maximize, args.minimize
    hv = lambda sel: lambda m, i: hypervolume_2d(mean_points(args, m, select_points(m, sel), i), args.ref, MX, args.bounds)
    xi = lambda kind: lambda m, i: _xi_parts(args, m, kind)[0][:, i].mean() + _xi_parts(args, m, kind)[1][:, i].mean()
    cells = any(args.alphas_a) and any(args.alphas_b)
    q = {"hv": ("HV, full grid (scalarized: its runs)", "prompts", "higher", hv("grid"),
                lambda m: "grid" in m or "labels" in m),
         "hv_eq": ("HV at equal budget (one point per scalarized run, KL matched)", "prompts", "higher", hv("eq"),
                   lambda m: bool(m.get("eq")) or "labels" in m),
         "xi": ("xi, mean over cells with both alphas != 0 (all pairs)", "all", "lower", xi("all"),
                lambda m: "grid" in m and cells),
         "xi_ctrl": ("xi, same cells, controlled pairs", "controlled", "lower", xi("controlled"),
                     lambda m: "grid" in m and cells and "controlled" in m["pairs"])}
    for k, obj in enumerate((a, b)):
        def curve(m, i, obj=obj, k=k):
            sel = select_points(m, f"control_{obj}")
            x = [m["points"][p][k] for p in sel] if "points" in m else [lab["w"] for lab in m["labels"]]
            return x, m["scores"][obj][sel][:, i].mean(1)
        sweep = lambda m: "labels" in m or "grid" in m
        q[f"spearman_{obj}"] = (f"Spearman of {obj} along its own alpha (scalarized: along w)", "prompts", "higher",
                                lambda m, i, c=curve: spearman(*c(m, i)), sweep)
        q[f"max_jump_{obj}"] = (f"max jump of {obj} along its own alpha", "prompts", "lower",
                                lambda m, i, c=curve: max_jump(c(m, i)[1]), sweep)
        for kind, tag in (("all", ""), ("controlled", "_ctrl")):
            def acc(m, i, k=k, obj=obj, kind=kind):
                r = m["pairs"][kind]
                return float((r["margins"][m[f"unit_{obj}"][0], k * r["n"] + i] > 0).mean())
            q[f"acc{tag}_{obj}"] = (f"pair accuracy on {obj} at alpha_{obj} = 1 alone ({kind} pairs)", kind, "higher",
                                    acc, lambda m, kind=kind: "grid" in m and kind in m["pairs"])
    return q


def _n(per_seed, name, q):
    """How many units q resamples: held-out prompts, or pairs per objective of its pair set."""
    return len(per_seed[0]["prompts"]) if q[1] == "prompts" else per_seed[0]["methods"][name]["pairs"][q[1]]["n"]


def value(per_seed, name, q):
    """q of one method on every prompt (or pair), averaged over seeds: the number the table shows."""
    every = np.arange(_n(per_seed, name, q))
    return float(np.mean([q[3](o["methods"][name], every) for o in per_seed]))


def bootstrap(args, per_seed, q, name_a, name_b=None):
    """paired_bootstrap of q(A) - q(B) (or of q(A) alone) over seeds, then prompts or pairs -> its dict."""
    ma = [o["methods"][name_a] for o in per_seed]
    mb = [o["methods"][name_b] for o in per_seed] if name_b else None
    n = _n(per_seed, name_a, q)
    stat = lambda s_idx, i: float(np.mean([q[3](ma[s], i) - (q[3](mb[s], i) if mb else 0.0) for s in s_idx]))
    return paired_bootstrap(stat, n, len(per_seed), args.n_boot, seed=0)


def analyse(args, per_seed, ideal):
    """Per-method numbers (the table, first seed's points; values averaged over seeds) and every paired
    comparison -> (methods, comparisons, extras)."""
    a, b = args.maximize, args.minimize
    Q = quantities(args)
    names = [n for n in (*COMPOSED, "scalarized DPO", "base") if all(n in o["methods"] for o in per_seed)]
    hv_ideal = hypervolume_2d(ideal, args.ref, MX, args.bounds) if ideal is not None else None
    methods = {}
    for name in names:
        m0 = per_seed[0]["methods"][name]
        row = {key: value(per_seed, name, q) for key, q in Q.items() if q[4](m0)}
        for key in ("hv", "xi", "xi_ctrl"):  # their own sampling error, for the table
            if key in row:
                row[key + "_se"] = bootstrap(args, per_seed, Q[key], name)["se"]
        grid = select_points(m0, "grid")
        pts = mean_points(args, m0, grid, slice(None))
        ses = np.column_stack([standard_error(m0["scores"][x][grid]) for x in (a, b)])
        cov = coverage(pts, MX)
        row |= {"n_front": int(pareto_mask(pts, MX).sum()), "n_points": len(pts), f"coverage_{a}": float(cov[0]),
                f"coverage_{b}": float(cov[1]), "hv_se_parametric": hypervolume_se(pts, ses, args.ref, MX, args.bounds),
                "well_formed_mean": float(m0["scores"]["well_formed"][grid].mean()),
                "well_formed_min": float(m0["scores"]["well_formed"][grid].mean(1).min()),
                "kl_max": float(np.max([np.max(o["methods"][name]["kl"]) for o in per_seed]))}
        row.setdefault("hv", hypervolume_2d(pts, args.ref, MX, args.bounds))  # the base: one point
        if hv_ideal:
            row["hv_rel_ideal"] = row["hv"] / hv_ideal
        for obj in (a, b) if "grid" in m0 else ():
            row[f"kl_at_1_{obj}"] = float(np.mean([o["methods"][name]["kl"][m0[f"unit_{obj}"][0]] for o in per_seed]))
        methods[name] = row
    todo = [(x, y, key) for x, y in (("TS-DPO", "DPO task arithmetic"), ("TS-DPO", "TS-DPO (nonlinear)"),
                                     ("DPO task arithmetic", "TS-DPO (nonlinear)"))
            if x in methods and y in methods for key in Q if Q[key][4](per_seed[0]["methods"][x])]
    todo += [(x, "scalarized DPO", key) for x in COMPOSED if x in methods and "scalarized DPO" in methods
             for key in ("hv", "hv_eq", f"spearman_{a}", f"spearman_{b}")  # Spearman: along alpha vs along w
             if Q[key][4](per_seed[0]["methods"][x])]
    comparisons = []
    for x, y, key in todo:
        r = bootstrap(args, per_seed, Q[key], x, y)
        if key.startswith("spearman"):  # how many points the rank correlation has to move on (fewer of the two)
            obj = key.removeprefix("spearman_")
            r["n_points"] = min(len(per_seed[0]["methods"][n]["labels"]) if "labels" in per_seed[0]["methods"][n]
                                else len(select_points(per_seed[0]["methods"][n], f"control_{obj}")) for n in (x, y))
        comparisons.append({"a": x, "b": y, "quantity": key, "label": Q[key][0], "unit": Q[key][1],
                            "better": Q[key][2], "value_a": methods[x].get(key), "value_b": methods[y].get(key),
                            **r, "verdict": verdict(r["lo"], r["hi"])})
    xi = {name: {kind: _xi_parts(args, per_seed[0]["methods"][name], kind)[2].tolist()
                 for kind in per_seed[0]["methods"][name]["pairs"]}
          for name in names if "grid" in per_seed[0]["methods"][name]}
    return methods, comparisons, {"xi": xi, "hv_ideal": hv_ideal}


# ----------------------------------------------------------------------------- sweep.jsonl
def sweep_rows(args, per_seed):
    """One row per seed, method and point: alphas (or weights), the sweeps it belongs to, KL, mean ± se over
    prompts of every attribute, the per-prompt scores (mean over samples), and the pair results per set."""
    a, b = args.maximize, args.minimize
    rows = []
    for o in per_seed:
        for name, m in o["methods"].items():
            named = {k: v for k, v in m.items() if k in ("grid", "eq") or k.startswith(("control_", "unit_"))}
            for p in range(len(m["kl"])):
                row = {"method": name, "seed": o["seed"], "kl": float(m["kl"][p]), "kl_se": float(m["kl_se"][p])}
                if "labels" in m:
                    row |= m["labels"][p] | {"sweeps": ["scalarized"]}
                else:
                    x, y = m["points"][p] if "points" in m else (0.0, 0.0)
                    row |= {"alphas": {a: x, b: y}, "sweeps": [k for k, v in named.items() if p in v] or ["base"]}
                row["scores"] = {x: {"mean": float(v[p].mean()), "se": float(standard_error(v[p])), "n": len(v[p])}
                                 for x, v in m["scores"].items()}
                row["per_prompt"] = {x: [round(float(s), 6) for s in v[p]] for x, v in m["scores"].items()}
                part = lambda r, k: r["margins"][p, k * r["n"]:(k + 1) * r["n"]]  # objective k's pairs
                stats = lambda M: {"accuracy": float((M > 0).mean()), "accuracy_se": float(standard_error(M > 0)),
                                   "margin": float(M.mean()), "margin_se": float(standard_error(M)), "n": len(M)}
                row["pairs"] = {kind: {obj: stats(part(r, k)) for k, obj in enumerate((a, b))}
                                for kind, r in m["pairs"].items()}
                rows.append(row)
    return rows


# ----------------------------------------------------------------------------- the summary
def fmt_num(v, fmt=".3f"):
    return "–" if v is None or (isinstance(v, float) and v != v) else f"{v:{fmt}}"


def summary_markdown(args, per_seed, methods, comparisons, extras, rows, notes, timings):
    """summary.md: setup, methods, every paired comparison, KL / gaps / cosines, shifts, every alpha point."""
    a, b, o = args.maximize, args.minimize, per_seed[0]
    sets = {k: v["n"] for k, v in next(iter(o["methods"].values()))["pairs"].items()} or \
        {k: v["n"] for m in o["methods"].values() for k, v in m["pairs"].items()}
    calib = (f"--calibrate kl: every vector rescaled so that alpha = 1 alone spends a per-token KL of "
             f"{o['kl_target']:.4f}" + (" (--kl-target)" if isinstance(args.kl_target, float) else " (the median over "
                                       f"the {args.kl_target or 'composed'} vectors of their own alpha = 1 KL)")
             if "kl_target" in o
             else "vectors as trained (--calibrate none): alpha = 1 spends each vector's own KL (table below)")
    L = [f"# Evaluation: maximize {a}, minimize {b}", "",
         f"Scorer `{args.scorer}`; {len(o['prompts'])} held-out prompts x {args.n_samples} sample(s) per point, "
         f"temperature 1, top-p {args.top_p:g}, {args.max_new_tokens} new tokens. Common random numbers: prompt i, "
         f"sample j draws from the stream of key i + {len(o['prompts'])} j in every method and point (gen seed "
         f"{args.gen_seed}). HV on the box {a} {args.bounds[0]} x {b} {args.bounds[1]} normalized to [0, 1], reference "
         f"point the worst corner ({a}={args.ref[0]:g}, {b}={args.ref[1]:g}). Grid alpha_{a} in {args.alphas_a} x "
         f"alpha_{b} in {args.alphas_b}; control sweeps {args.control[0]:g}..{args.control[1]:g} in "
         f"{int(args.control[2])} steps; {calib}. Held-out pairs per objective: "
         + ", ".join(f"{n} ({k})" for k, n in sets.items()) + f". Paired bootstrap: {args.n_boot} resamples"
         + (f", seeds {args.seeds} (two levels: seeds, then prompts)" if args.seeds else ", runs of seed 0") + ".", ""]
    head = (f"| method | HV ± se | HV / ideal | HV equal budget | #non-dom / points | Spearman {a} / {b} | max jump "
            f"{a} / {b} | xi ± se (all) | xi ± se (controlled) | acc {a} / {b} (controlled) | KL at alpha=1 {a} / {b} "
            f"| well-formed mean / min |")
    L += ["## Methods", "", head, "|" + "---|" * (head.count("|") - 1)]
    for name, m in methods.items():
        pm = lambda k, f=".3f": fmt_num(m.get(k), f) + (f" ± {fmt_num(m[k + '_se'], f)}" if k + "_se" in m else "")
        L.append(f"| {name} | {pm('hv')} | {fmt_num(m.get('hv_rel_ideal'), '.2f')} | {fmt_num(m.get('hv_eq'))} | "
                 f"{m['n_front']} / {m['n_points']} | {fmt_num(m.get(f'spearman_{a}'), '.2f')} / "
                 f"{fmt_num(m.get(f'spearman_{b}'), '.2f')} | {fmt_num(m.get(f'max_jump_{a}'), '.2f')} / "
                 f"{fmt_num(m.get(f'max_jump_{b}'), '.2f')} | {pm('xi')} | {pm('xi_ctrl')} | "
                 f"{fmt_num(m.get(f'acc_ctrl_{a}'), '.2f')} / {fmt_num(m.get(f'acc_ctrl_{b}'), '.2f')} | "
                 f"{fmt_num(m.get(f'kl_at_1_{a}'), '.4f')} / {fmt_num(m.get(f'kl_at_1_{b}'), '.4f')} | "
                 f"{m['well_formed_mean']:.2f} / {m['well_formed_min']:.2f} |")
    if extras["hv_ideal"]:
        L += ["", f"HV / ideal: divided by the HV of the toy world's ideal front on these prompts "
                  f"(toyworld.ideal_front: {extras['hv_ideal']:.3f})."]
    L += ["", "## Paired comparisons", "",
          "Each line: the difference A − B on the same prompts (pairs for pair metrics), its 95% CI from the paired "
          "bootstrap, and the verdict read off the CI: higher (CI above 0), lower (below 0), or no difference "
          "detected. `better` says which direction is good for the quantity. The table is one family of tests: the "
          "adjusted verdict keeps a side only where Holm's adjusted p (two-sided, Student t on the bootstrap's se) "
          "is below 0.05 too; "
          "`degenerate` marks a statistic that cannot move (a zero-width CI, a Spearman over 3 or fewer points).", "",
          "| A − B | quantity | better | A | B | A − B | 95% CI | se | verdict | p (Holm) | adjusted verdict |",
          "|---|---|---|---|---|---|---|---|---|---|---|"]
    fam = family_verdicts(comparisons)
    for c, (raw, adjusted, p_adj) in zip(comparisons, fam):
        shown = "degenerate" if raw == "degenerate" else c["verdict"]  # in this table's words: higher / lower
        adjusted = shown if raw == "degenerate" or adjusted in ("holds", "fails") else "no difference detected"
        L.append(f"| {c['a']} − {c['b']} | {c['label']} | {c['better']} | {fmt_num(c['value_a'])} | {fmt_num(c['value_b'])} | "
                 f"{c['diff']:+.3f} | [{c['lo']:+.3f}, {c['hi']:+.3f}] | {fmt_num(c['se'])} | {shown} | "
                 f"{fmt_num(p_adj)} | {adjusted} |")
    L += ["", chance_line([raw for raw, _, _ in fam])]
    hv = next((c for c in comparisons if c["quantity"] == "hv" and c["b"] == "DPO task arithmetic"), None)
    if hv:
        par = [methods[n]["hv_se_parametric"] for n in ("TS-DPO", "DPO task arithmetic")]
        L += ["", f"HV standard error of one method difference (TS-DPO − DPO task arithmetic): {hv['se']:.4f} (paired "
                  f"bootstrap over prompts). The old parametric se per method (points redrawn from N(mean, se^2), "
                  f"independently) is {par[0]:.4f} and {par[1]:.4f} here, i.e. {math.hypot(*par):.4f} for the "
                  f"difference (the phase-1 demo had about 0.03 per method)."]
    L += ["", "## Vectors: KL, scale, linearization gap, cosines", "",
          "| vector | ‖tau‖ | KL at alpha=1 as trained | scale s | gap alpha=0.5 / 1 / 2 |", "|---|---|---|---|---|"]
    for key, v in o["vectors"].items():
        g = v.get("gap", {})
        L.append(f"| {key} | {v['norm']:.3f} | {v['kl_at_1_raw']:.4f} | {v['scale']:.3f} | "
                 + " / ".join(fmt_num(g.get(f"{x:g}")) for x in (0.5, 1, 2)) + " |")
    L += ["", "Gap = ||f(theta0 + alpha tau) − f_lin|| / ||f(theta0 + alpha tau) − f0|| on the held-out pairs' scored "
              "logits, for the vectors as evaluated (after any scale s): the share of the vector's effect on the "
              "nonlinear model that the linearized model misses.", ""]
    L += [f"- cos {k}: {v:.3f}" for k, v in o["cosines"].items()]
    for name, m in o["methods"].items():
        if m.get("eq_scales"):
            L.append(f"- equal budget, {name}: s = " + ", ".join(
                f"{s:.3f} (w {lab['w']:g}, KL {kl:.4f})" for s, lab, kl in
                zip(m["eq_scales"], o["methods"]["scalarized DPO"]["labels"], o["methods"]["scalarized DPO"]["kl"])))
    L += ["", "## Representation shifts: CCA, null, inputs partialled out, directions", ""]
    for name, c in o["cca"].items():
        s, r, pa = c["shift_vs_shift"], c["shift_vs_shift_residual"], c["principal_angles"]
        lead = lambda d: (f"{d['spectrum'][0]:.2f} vs null {d['null95'][0]:.2f} ("
                          f"{'above' if d['spectrum'][0] > d['null95'][0] else 'not above'} chance)")
        r2 = " / ".join(f"{c[f'r2_inputs_{x}']:.2f}" for x in (a, b))
        L.append(f"- {name}: leading canonical correlation of shift {a} vs shift {b} {lead(s)}; spectrum "
                 + ", ".join(f"{x:.2f}" for x in s["spectrum"]) + f". The inputs (top {args.cca_k} PCs of the base "
                 "hidden state, word counts) "
                 f"explain R^2 {r2} of the two shifts; with them partialled out: {lead(r)}. Each shift vs the "
                 f"attribute labels: {lead(c[f'{a}_vs_labels'])} / {lead(c[f'{b}_vs_labels'])}. Principal angles "
                 f"between the top {len(pa)} shift directions in hidden space: cosines "
                 + ", ".join(f"{x:.2f}" for x in pa[:3]) + f" (random subspaces: {c['principal_angles_null95'][0]:.2f} at "
                 f"the 95th percentile). Mean row cosine {c['row_cosine']['mean']:.2f} ± {c['row_cosine']['se']:.2f}.")
    if o["cca"]:
        L.append(f"- Null: the 95th percentile of the same statistic with the rows of one side permuted ({args.n_perm} "
                 "permutations). What this shows: CCA is invariant to any invertible linear map of each side, so a high canonical "
                 "correlation says the two shifts co-vary across rows, not that they point the same way; the principal "
                 "angles and the row cosine measure direction. Nothing here measures disentanglement itself (xi does).")
    L += ["", "## Every alpha point: KL and the sampling-free companion", "",
          "Scores: mean ± se over prompts. Pair accuracy on controlled pairs (all pairs when there are none) with a "
          "95% CI (± 1.96 se); margins in units of beta-scaled log-ratios. Seed " + str(o["seed"]) + ".", "",
          f"| method | point | KL ± se | {a} | {b} | well-formed | acc {a} [95% CI] | acc {b} [95% CI] | "
          f"margin {a} / {b} |", "|---|---|---|---|---|---|---|---|---|"]
    for r in (r for r in rows if r["seed"] == o["seed"]):
        pr = r["pairs"].get("controlled") or r["pairs"].get("all")
        ci = lambda d: f"{d['accuracy']:.2f} [{max(0, d['accuracy'] - 1.96 * d['accuracy_se']):.2f}, " \
                       f"{min(1, d['accuracy'] + 1.96 * d['accuracy_se']):.2f}]"
        pt = r.get("weights") or ", ".join(f"{v:.3g}" for v in r["alphas"].values()) + (
            " (equal budget)" if "eq" in r["sweeps"] else "")
        sc = lambda x: f"{r['scores'][x]['mean']:.2f} ± {r['scores'][x]['se']:.2f}"
        pairs = (f"{ci(pr[a])} | {ci(pr[b])} | {pr[a]['margin']:.3f} / {pr[b]['margin']:.3f} |"
                 if pr and r["kl"] > 0 else "– | – | – |")  # theta0 itself: zero margins, no preference
        L.append(f"| {r['method']} | {pt} | {r['kl']:.4f} ± {r['kl_se']:.4f} | {sc(a)} | {sc(b)} | "
                 f"{r['scores']['well_formed']['mean']:.2f} | {pairs}")
    L += ["", "## Conventions", "",
          "- xi(a1, a2) = sum over tasks with a_t != 0 of the preference-sign disagreement rate on its held-out pairs "
          "between the single-vector and the composed model; the mean is over cells where both alphas are nonzero. "
          "Controlled pairs have equal labels on the other attribute: a flip there is not a genuine trade-off.",
          "- Spearman / max jump: the vector's own attribute along its 1-D sweep (scalarized DPO: along w, over its "
          "fewer points; its Spearman is compared with the composed methods' along alpha, its max jump only shown). A "
          f"malformed response is the worst on both axes ({a} 0, {b} the top).",
          "- Equal budget: per scalarized run (w_a, w_b), the point s (w_a, w_b) of each composed method whose KL "
          "equals that run's (sweeps.kl_scale). KL: per-token KL(pi_alpha || pi_0) over the response tokens of "
          "the held-out pairs of both objectives (sweeps.pair_sweep). The base has no pair accuracy (zero margins)."]
    L += (["", "## Notes", ""] + [f"- {n}" for n in notes]) if notes else []
    L += ["", "## Timings (s)", "", ", ".join(f"{k} {v:.1f}" for k, v in timings.items())]
    return "\n".join(L) + "\n"


# ----------------------------------------------------------------------------- the results folder
def write_results(args, per_seed, ideal, notes, timings, runs, t0):
    """Every output of evaluate.py into args.out, atomically; the plots show the first seed.

    An old summary is removed first and the new summary.json is written last, so a results folder with a
    summary.json always holds one finished evaluation, never a half-replaced one."""
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for f in ("summary.json", "summary.md"):
        (out / f).unlink(missing_ok=True)
    t = time.time()
    methods, comparisons, extras = analyse(args, per_seed, ideal)
    timings["statistics"] = time.time() - t
    t = time.time()
    rows = sweep_rows(args, per_seed)
    write_jsonl(out / "sweep.jsonl", rows)
    o = per_seed[0]
    plot_pareto(args, o, ideal, out / "pareto.png")
    plot_control(args, o, out / "control.png")
    plot_xi(args, extras["xi"], out / "disentanglement.png")
    plot_cca(args, o["cca"], out / "cca.png")
    timings["plots"] = time.time() - t
    timings["total"] = time.time() - t0
    key = lambda s: s if s is not None else "-"
    config = {k: v for k, v in vars(args).items() if k != "scorer_fn"}
    summary = {"config": config, "methods": methods, "comparisons": comparisons, "notes": notes,
               "hv_ideal": extras["hv_ideal"], "ideal_front": None if ideal is None else np.asarray(ideal).tolist(),
               "xi": {key(s["seed"]): extras["xi"] if s is o else None for s in per_seed},
               "per_seed": {key(s["seed"]): {k: s.get(k) for k in ("prompts", "vectors", "cosines", "cca", "kl_target")}
                            for s in per_seed},
               "runs": runs, "timings_s": timings}
    md = summary_markdown(args, per_seed, methods, comparisons, extras, rows, notes, timings)
    atomic_write(out / "summary.md", md)
    write_json(out / "summary.json", summary)
    print(md)
    print(f"wrote {args.out}/{' '.join(OUTPUTS)} in {timings['total']:.0f}s")


# ----------------------------------------------------------------------------- a claim's verdict (study.py)
def claim_verdict(c, p_adjusted=None):
    """A claim that TS-DPO is better on c: "holds" if the CI lies on the better side of 0, "fails" if on the
    worse side, "not detectable" if it covers 0 (never from a sign). "degenerate" where the statistic cannot move:
    a CI of zero width, or a Spearman over 3 or fewer points. With p_adjusted (Holm over the family), a side is
    taken only where the adjusted p is below 0.05 as well."""
    if not all(math.isfinite(c.get(k, math.nan)) for k in ("diff", "lo", "hi")):  # e.g. a constant Spearman
        return "not measured"
    if is_degenerate(c):
        return "degenerate"
    good, bad = (c["lo"] > 0, c["hi"] < 0) if c["better"] == "higher" else (c["hi"] < 0, c["lo"] > 0)
    if p_adjusted is not None and not p_adjusted < 0.05:
        return "not detectable"
    return "holds" if good else "fails" if bad else "not detectable"


def is_degenerate(c):
    """A comparison whose statistic cannot move: zero-width CI, or a Spearman over <= 3 points."""
    return c["hi"] - c["lo"] == 0 or (c.get("quantity", "").startswith("spearman") and c.get("n_points", 99) <= 3)


def family_verdicts(comparisons):
    """Holm over one family of comparisons (their bootstrap p, two-sided) -> [(raw verdict, adjusted verdict,
    adjusted p)]. A family is one claim x one comparison across regimes (a report with one regime: its whole table).
    Degenerate and unmeasured rows are not tests and do not count in m."""
    raw = [claim_verdict(c) for c in comparisons]
    tests = [r not in ("degenerate", "not measured") for r in raw]
    p_adj = holm([c.get("p", math.nan) if t else math.nan for c, t in zip(comparisons, tests)])
    return [(r, claim_verdict(c, p) if t else r, p) for c, r, t, p in zip(comparisons, raw, tests, p_adj)]


def chance_line(raw_verdicts):
    """One sentence: how many raw verdicts took a side, and how many chance alone would give if nothing differed."""
    m = sum(v not in ("degenerate", "not measured", "–") for v in raw_verdicts)
    k = sum(v in ("holds", "fails") for v in raw_verdicts)
    expected, (lo, hi) = chance_count(m)
    return (f"{k} of the {m} raw 95% verdicts take a side (holds or fails); if nothing differed, chance alone would "
            f"give about {expected:.1f} ({lo} to {hi}, the binomial 95% range of m x 0.05).")
