"""Every figure the repo draws, from numbers other files measured: nothing is computed here but the layout.

    pareto.png           each method's points (mean scores) with its non-dominated front; a panel of the HV
                         of the points within a per-token KL budget k (equal spending, not equal alpha)
    control.png          a vector's own attribute along its 1-D sweep: against alpha, against sign(alpha) x KL,
                         and the sampling-free pair accuracy
    disentanglement.png  xi(alpha_a, alpha_b) over the grid, all and controlled pairs
    cca.png              the canonical spectrum of the two shifts against its permutation null
    curves.png           a training run's loss and reward accuracy, train and held-out (train_tangent.py)

    python evaluate.py --runs runs --out results    # draws the first four; train_tangent.py draws curves.png
"""
import matplotlib

matplotlib.use("Agg")  # files only, no display: must precede pyplot
import matplotlib.patches
import matplotlib.pyplot as plt
import numpy as np

from measure.metrics import hypervolume_2d, pareto_mask, standard_error
from plumbing.run_folder import atomic_write

COLORS = {"TS-DPO": "tab:blue", "DPO task arithmetic": "tab:orange", "TS-DPO (nonlinear)": "tab:cyan",
          "scalarized DPO": "tab:red", "base": "black"}
MX = (True, False)  # maximize the first axis, minimize the second
CCA_X = "canonical index (1 = the strongest pair)"  # the x axis of both CCA figures, counted from 1


def mean_points(args, m, sel, idx):
    """(len(sel), 2) mean scores over the prompts idx of the points sel."""
    return np.column_stack([m["scores"][x][sel][:, idx].mean(1) for x in (args.maximize, args.minimize)])


def select_points(m, name):
    """Indices of the points named `name` (grid, eq, control_<obj>, unit_<obj>); all points for scalarized DPO."""
    return m.get(name, list(range(len(m["kl"]))))



# ----------------------------------------------------------------------------- evaluation figures (first seed)
def savefig(fig, path):
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=110, bbox_inches="tight"))
    plt.close(fig)


def _finish(ax, xlabel, ylabel, title=None):
    ax.set_xlabel(xlabel), ax.set_ylabel(ylabel), ax.grid(alpha=0.3)
    if title:
        ax.set_title(title, fontsize=10)
    if ax.get_legend_handles_labels()[0]:  # e.g. no composed method was evaluated: no legend
        ax.legend(fontsize=7)


def plot_pareto(args, o, ideal, path):
    """pareto.png. Left: grid, equal-budget (x), scalarized and base points (mean ± se), each method's front (grid)
    and the toy world's ideal front. Right, the front against KL: HV of the points whose KL to the base is at most
    k, as k grows (all of a method's points, with the base)."""
    a, b = args.maximize, args.minimize
    fig, (ax, ax_kl) = plt.subplots(1, 2, figsize=(13, 5.5), width_ratios=(1.2, 1))
    base = mean_points(args, o["methods"]["base"], [0], slice(None))
    labels, seen = [], []  # the w= labels to place; every drawn point and error-bar end, for the axis limits
    for name, m in o["methods"].items():
        c, grid, every = COLORS.get(name), select_points(m, "grid"), list(range(len(m["kl"])))
        xy, se = mean_points(args, m, every, slice(None)), np.column_stack([standard_error(m["scores"][x]) for x in (a, b)])
        ax.errorbar(xy[grid, 0], xy[grid, 1], xerr=se[grid, 0], yerr=se[grid, 1], fmt="*" if name == "base" else "o",
                    ms=12 if name == "base" else 5, color=c, alpha=0.8, capsize=2, lw=0.8, label=name)
        if m.get("eq"):
            ax.plot(xy[m["eq"], 0], xy[m["eq"], 1], "x", color=c, ms=8, label=f"{name}, equal budget")
        f = np.array(grid)[pareto_mask(xy[grid], MX)]
        ax.step(*xy[f[np.argsort(xy[f, 0])]].T, where="post", color=c, lw=2)
        labels += [(f"w={lab['w']:g}", x, y, c) for lab, (x, y) in zip(m.get("labels", []), xy)]
        seen += [xy[grid] - se[grid], xy[grid] + se[grid], xy[m.get("eq", [])]]
        order = np.argsort(m["kl"])
        hv = [hypervolume_2d(np.vstack([base, xy[order[:i + 1]]]), args.ref, MX, args.bounds)
              for i in range(len(order))]
        ax_kl.step(m["kl"][order], hv, where="post", marker="o", ms=3, color=c, label=name)
    if ideal is not None:
        ax.step(*np.asarray(ideal)[np.argsort(np.asarray(ideal)[:, 0])].T, where="post", color="k", ls="--", lw=1,
                label="ideal front (toy world)")
    seen = np.vstack(seen)
    ax.set_xlim(*padded(args.bounds[0], seen[:, 0])), ax.set_ylim(*padded(args.bounds[1], seen[:, 1]))
    place_labels(ax, labels)
    unit = "oracle score (0-4)" if args.scorer == "toy" else f"score ({args.scorer})"
    _finish(ax, f"{a}: {unit}, higher is better", f"{b}: {unit}, lower is better",
            "Pareto fronts (mean ± se over prompts; lines: non-dominated grid points)")
    _finish(ax_kl, "KL budget k: per-token KL(pi_alpha || pi_0) on held-out responses", "HV of the points with KL <= k",
            "Fronts against KL")
    savefig(fig, path)


def padded(bounds, values, margin=0.04):
    """Axis limits holding both the stated bounds and every drawn value, plus a margin: nothing sits on the edge."""
    v = np.asarray(values, float)
    v = np.concatenate([v[np.isfinite(v)], bounds])
    lo, hi = float(v.min()), float(v.max())
    pad = margin * ((hi - lo) or 1.0)
    return lo - pad, hi + pad


def place_labels(ax, labels, gap=0.035, near=0.12):
    """Annotate (text, x, y, color) points after the limits are set: a label that would sit within `gap` (axes
    fraction) of one already placed at a similar x moves up or down (the nearest free place inside the axes) to
    clear it, with a thin line back to its point. Returns the labels' positions in axes fraction."""
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    placed = []
    for text, x, y, c in sorted(labels, key=lambda t: t[2]):
        fx, fy = (x - x0) / (x1 - x0), (y - y0) / (y1 - y0)
        tries = [fy + 0.01 + k * gap for k in [0] + [s * n for n in range(1, 30) for s in (1, -1)]]  # 0, +1, -1, ..
        ty = next((t for t in tries if 0 <= t <= 0.95
                   and not any(abs(t - py) < gap and abs(fx - px) < near for px, py in placed)), fy + 0.01)
        placed.append((fx, ty))
        ax.annotate(text, (x, y), xytext=(fx + 0.01, ty), textcoords="axes fraction", fontsize=8, color=c,
                    arrowprops=dict(arrowstyle="-", color=c, lw=0.5) if abs(ty - fy) > gap else None)
    return placed


def plot_control(args, o, path):
    """control.png, per vector: its own attribute along its alpha sweep (top), the same against sign(alpha) x KL
    to the base (middle: methods compare at equal distance from theta0), and the sampling-free companion, its
    implicit-reward accuracy on controlled pairs with a 95% CI (bottom)."""
    fig, axes = plt.subplots(3, 2, figsize=(11, 11))
    for k, obj in enumerate((args.maximize, args.minimize)):
        for name, m in ((n, m) for n, m in o["methods"].items() if "grid" in m):
            sel, c = select_points(m, f"control_{obj}"), COLORS.get(name)
            alpha, s = np.array([m["points"][p][k] for p in sel]), m["scores"][obj][sel]
            kind = "controlled" if "controlled" in m["pairs"] else "all"
            n = m["pairs"][kind]["n"]
            acc = (m["pairs"][kind]["margins"][sel][:, k * n:(k + 1) * n] > 0) * 1.0
            acc[alpha == 0] = np.nan  # theta0 itself: zero margins, no preference to count
            for ax, x, y, e, lab in ((axes[0, k], alpha, s.mean(1), standard_error(s), name),
                                     (axes[1, k], np.sign(alpha) * m["kl"][sel], s.mean(1), standard_error(s), name),
                                     (axes[2, k], alpha, acc.mean(1), 1.96 * standard_error(acc), f"{name} ({kind} pairs)")):
                ax.errorbar(x, y, yerr=e, marker="o", ms=4, capsize=2, color=c, label=lab)
        _finish(axes[0, k], f"alpha on the {obj} vector (other at 0)", f"{obj} (generated)", f"control of {obj}")
        _finish(axes[1, k], "sign(alpha) x per-token KL(pi_alpha || pi_0)", f"{obj} (generated)", "against KL")
        _finish(axes[2, k], f"alpha on the {obj} vector", f"pair accuracy on {obj}", "sampling-free: pair accuracy")
    fig.tight_layout()
    savefig(fig, path)


def plot_xi(args, xi, path):
    """disentanglement.png: xi over the grid per composed method; rows: all pairs, controlled pairs."""
    names = list(xi) or ["(none)"]
    kinds = sorted({k for v in xi.values() for k in v}) or ["all"]
    # a zero alpha asks nothing of its task: xi is not defined there (metrics.xi returns 0), drawn grey, not as 0
    undefined = (np.asarray(args.alphas_a) == 0)[:, None] | (np.asarray(args.alphas_b) == 0)[None, :]
    vmax = max([np.max(np.where(undefined, 0, g)) for v in xi.values() for g in v.values()] + [1e-9])
    cmap = matplotlib.colormaps["viridis"].with_extremes(bad="0.85")  # masked cells: light grey, not xi = 0
    fig, axes = plt.subplots(len(kinds), len(names), figsize=(4.6 * len(names), 4.2 * len(kinds)), squeeze=False)
    fig.subplots_adjust(hspace=0.4, wspace=0.35)
    im = None
    for r, kind in enumerate(kinds):
        for ax, name in zip(axes[r], names):
            if kind not in xi.get(name, {}):
                ax.axis("off")
                continue
            v = np.ma.masked_array(np.asarray(xi[name][kind], float), mask=undefined)
            im = ax.imshow(v, origin="lower", cmap=cmap, vmin=0, vmax=vmax, aspect="auto")
            for i, j in np.ndindex(v.shape):
                ax.text(j, i, "n/a" if undefined[i, j] else f"{v[i, j]:.2f}", ha="center", va="center", fontsize=7,
                        color="dimgray" if undefined[i, j] else "white" if v[i, j] < vmax / 2 else "black")
            ax.set_xticks(range(len(args.alphas_b)), [f"{x:g}" for x in args.alphas_b])
            ax.set_yticks(range(len(args.alphas_a)), [f"{x:g}" for x in args.alphas_a])
            ax.set_xlabel(f"alpha {args.minimize}"), ax.set_ylabel(f"alpha {args.maximize}")
            ax.set_title(f"{name}, {kind} pairs", fontsize=9)
    if im is not None:
        fig.colorbar(im, ax=axes.ravel().tolist(), label="disentanglement error xi (0-2)")
        fig.legend(handles=[matplotlib.patches.Patch(color="0.85", label="n/a: an alpha is 0, xi undefined")],
                   loc="lower center", fontsize=8, frameon=False)
    savefig(fig, path)


def plot_cca(args, cca_res, path):
    """cca.png: the canonical spectrum of shift a vs shift b against its null (95th percentile), before and after
    partialling out the inputs, one panel per method."""
    names = list(cca_res) or ["(none)"]
    fig, axes = plt.subplots(1, len(names), figsize=(5 * len(names), 3.8), squeeze=False)
    for ax, name in zip(axes[0], names):
        for key, style in (("shift_vs_shift", "-"), ("shift_vs_shift_residual", "--")):
            d = cca_res.get(name, {}).get(key)
            if d:
                i = np.arange(1, len(d["spectrum"]) + 1)
                tag = "inputs partialled out" if "residual" in key else "raw"
                ax.plot(i, d["spectrum"], style, marker="o", color=COLORS.get(name), label=tag)
                ax.plot(i, d["null95"], style, color="gray", label=f"{tag}: null 95th pct")
        ax.set_ylim(0, 1.05)
        _finish(ax, CCA_X, "canonical correlation", f"{name}: shift {args.maximize} vs {args.minimize}")
    savefig(fig, path)



# ----------------------------------------------------------------------------- the study's figures (study.py)
REGIME_MARKERS = {"matched": "o", "rich": "s", "wide": "^"}


def plot_study_hv(rows, path):
    """study-hv.png: the paired HV difference TS-DPO - B with its 95% CI against the preference data's
    correlation; the matched regime is a line over correlations, rich and wide are single points at theirs.
    rows: [{"cell", "regime", "r", "vs", "quantity", "diff", "lo", "hi"}]."""
    vs_all = sorted({r["vs"] for r in rows})
    fig, axes = plt.subplots(1, len(vs_all), figsize=(6 * len(vs_all), 4.5), squeeze=False)
    for ax, vs in zip(axes[0], vs_all):
        for k, (q, ls) in enumerate((("hv", "-"), ("hv_eq", ":"))):
            for regime, mk in REGIME_MARKERS.items():
                pts = sorted((r["r"], r["diff"], r["lo"], r["hi"]) for r in rows
                             if r["vs"] == vs and r["quantity"] == q and r["regime"] == regime)
                if pts:
                    x, d, lo, hi = map(np.array, zip(*pts))
                    x = x + 0.01 * (k * 2 - 1) + 0.02 * list(REGIME_MARKERS).index(regime)  # side by side
                    ax.errorbar(x, d, yerr=[d - lo, hi - d], marker=mk, ls=ls if len(pts) > 1 else "none",
                                capsize=3, label=f"{regime}, {'full grid' if q == 'hv' else 'equal budget'}")
        ax.axhline(0, color="black", lw=0.8)
        _finish(ax, "helpfulness-verbosity correlation of the preference data", f"HV: TS-DPO - {vs} (95% CI)")
    savefig(fig, path)


def plot_study_control(curves, path):
    """study-control.png: a vector's own attribute along its 1-D sweep against sign(alpha) x KL, per regime
    (first seed). curves: {cell: {method: {obj: (alphas, kl, mean score)}}}."""
    objs = sorted({o for c in curves.values() for m in c.values() for o in m})
    fig, axes = plt.subplots(len(objs), len(curves), figsize=(4 * len(curves), 3.4 * len(objs)), squeeze=False)
    for j, (cell, methods) in enumerate(curves.items()):
        for i, obj in enumerate(objs):
            ax = axes[i, j]
            for name, per in methods.items():
                if obj in per:
                    al, kl, y = map(np.asarray, per[obj])
                    ax.plot(np.sign(al) * kl, y, "o-", color=COLORS.get(name), label=name, ms=4)
            _finish(ax, "sign(alpha) x per-token KL", f"{obj} along its alpha", f"{cell}: {obj}")
    fig.tight_layout()
    savefig(fig, path)


def plot_study_bars(values, ylabel, path, line=None):
    """A grouped bar chart with error bars: values = {group: {series: (value, err)}} (ξ per regime, gaps per arm)."""
    groups = list(values)
    series = list(dict.fromkeys(s for g in values.values() for s in g))
    fig, ax = plt.subplots(figsize=(max(6, 1.3 * len(groups) * max(1, len(series)) / 2), 4.2))
    w = 0.8 / max(1, len(series))
    for k, s in enumerate(series):
        v = [values[g].get(s, (np.nan, 0))[0] for g in groups]
        e = [values[g].get(s, (np.nan, 0))[1] for g in groups]
        ax.bar(np.arange(len(groups)) + k * w - 0.4 + w / 2, v, w, yerr=e, capsize=3, label=s,
               color=COLORS.get(s.split(" / ")[0]), alpha=1.0 if k % 2 == 0 else 0.6)
    if line is not None:
        ax.axhline(line, color="black", ls="--", lw=0.8)
    ax.set_xticks(range(len(groups)), groups, fontsize=8)
    _finish(ax, "", ylabel)
    savefig(fig, path)


def plot_study_cca(spectra, path):
    """study-cca.png: the canonical spectrum of the two vectors' hidden-state shifts against its permutation
    null, per regime and method (first seed). spectra: {cell: {method: {"spectrum", "null95"}}}."""
    fig, axes = plt.subplots(1, len(spectra), figsize=(4 * len(spectra), 3.6), squeeze=False)
    for ax, (cell, methods) in zip(axes[0], spectra.items()):
        for name, r in methods.items():
            i = np.arange(1, len(r["spectrum"]) + 1)
            ax.plot(i, r["spectrum"], "o-", color=COLORS.get(name), label=name, ms=4)
            ax.plot(i, r["null95"], ":", color=COLORS.get(name), label=f"{name}: null 95th pct")
        _finish(ax, CCA_X, "canonical correlation", cell)
    fig.tight_layout()
    savefig(fig, path)
