"""Evaluation of composed task vectors: Pareto fronts, control, disentanglement, CCA.

Methods compared (same base theta0, data, beta and step budget; grids are flags):
  TS-DPO                 tangent vectors ts-<obj>, composed in the linearized model f0 + sum_k alpha_k J tau_k
  DPO task arithmetic    standard vectors dpo-<obj> (theta_k - theta0), composed in the nonlinear model
  scalarized DPO         one standard run per weighting scal-<w> (helpfulness=w, verbosity=w-1), alpha = 1
  base                   theta0
  ablation               ts-<obj> vectors applied to the nonlinear model ("TS-DPO (nonlinear)")

Metrics (the pure functions at the top of this file; each is unit-tested in tests/test_evaluate.py)
  Scores      per alpha point: sampled generations (temperature 1) on held-out prompts, scored by the toy
              oracle (exact, 0-4), word count, or a HF reward model; mean, standard error se = sd / sqrt(n), n.
  Pairs       implicit-reward accuracy P(m > 0) and mean margin m = beta[(log pi - log ref)(y_c) -
              (log pi - log ref)(y_r)] on held-out pairs of each objective (no generation).
  Pareto      point i is dominated if some j is >= on every axis (after flipping minimized axes) and > on one;
              exact duplicates keep only their first occurrence.
  Hypervolume each axis is mapped to [0, 1] by FIXED bounds (toy oracle: [0, 4]), good = 1, so the reference
              point is the worst corner (helpfulness 0, verbosity 4) and HV in [0, 1] compares across methods:
                  HV = area( union_i [0, u_i] x [0, v_i] ),  u, v the normalized, good-is-up coordinates.
              HV's standard error: parametric bootstrap, each point redrawn from N(mean, se^2).
  Coverage    max - min over the non-dominated points, per axis, in score units.
  Smoothness  along a 1-D sweep alpha_1 < ... < alpha_P of one vector (others at 0), on its own attribute s:
                  Spearman rho(alpha, s) (average ranks for ties),  max_jump = max_i |s_{i+1} - s_i| / (max s - min s)
              (max_jump = 1/(P-1) for evenly spaced steps, 1 for a single step; 0 for a flat sweep).
  Disentanglement error (Ortiz-Jimenez et al. 2023), with pref_t(theta) = sign of the implicit margin on
  objective t's held-out pairs and dist = disagreement rate:
                  xi(a1, a2) = sum_{t : a_t != 0} E_{pairs of t} 1[ pref_t(theta0 + a_t tau_t) !=
                                                                  pref_t(theta0 + a1 tau1 + a2 tau2) ]
              Convention: a task with a_t = 0 is not asked for and contributes no term (theta0 has zero implicit
              margin, so there is no preference to preserve); hence xi(a1, 0) = xi(0, a2) = 0 exactly.
  CCA         canonical correlations (centred, ridge-regularized, Cholesky-whitened, each side first reduced to
              k principal components) between the hidden-state shifts two vectors induce, and between each shift
              and the rows' attribute labels. Representation: last hidden layer, mean-pooled over the
              prompt + response tokens of held-out rated rows. shift_k = h(theta0 + tau_k) - h(theta0): for
              tangent vectors the linearized shift J_h tau_k (a jvp of the hidden states), for standard vectors
              the nonlinear model with apply_vectors. A permutation baseline (labels shuffled) gives chance level.

Run (after `make demo` has trained runs/):
    python evaluate.py --runs runs --out results --maximize helpfulness --minimize verbosity
    python evaluate.py --runs runs --out results --seeds 0 1 2            # aggregates runs/<name>-s<seed>
    python evaluate.py --scorer hf:<reward-model>,length                  # RM for helpfulness, words for verbosity
    python evaluate.py --alphas-a 0,0.25,0.5,0.75,1,1.25,1.5 --alphas-b=-1.5,-1.25,-1,-0.75,-0.5,-0.25,0  # finer (~3x slower)
Defaults (sized for the tiny CPU demo, about 3 minutes on 2 cores): grid alpha_a in {0,0.5,1,1.5} x alpha_b in
{-1.5,-1,-0.5,0}, 1-D control sweeps -2..2 in 9 steps, 48 held-out prompts x 1 sample (top-p 0.95), 80 new tokens
(the toy world's longest answer is 70), 64 pairs per objective, 128 rows for CCA. Negative values need the = form
(--alphas-b=-2,-1,0). Timings per stage are printed.
Outputs (atomic): results/sweep.jsonl, summary.json, summary.md, pareto.png, control.png, disentanglement.png, cca.png
"""
import argparse
import json
import math
import os
import re
import sys
import time
from pathlib import Path

import numpy as np

from report import plot_cca, plot_control, plot_pareto, plot_xi, summary_markdown, verdicts
from metrics import (coverage, cca, cca_report, disentanglement_error, hypervolume_2d, hypervolume_se,
                     max_jump, mean_se, pareto_mask, spearman)


# ============================================================================= orchestration (side effects)
METHODS = {  # name -> (run prefix, model the vectors are composed in)
    "TS-DPO": ("ts", "linear"),
    "DPO task arithmetic": ("dpo", "nonlinear"),
    "TS-DPO (nonlinear)": ("ts", "nonlinear"),  # ablation: tangent vectors, nonlinear model
}
def floats(text):
    try:
        return [float(v) for v in str(text).split(",") if v.strip()]
    except ValueError:
        raise SystemExit(f"evaluate.py: cannot parse {text!r} as comma-separated numbers, e.g. 0,0.5,1") from None


def atomic_write(path, text):
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def find_runs(runs, seed):
    """{name: folder} of runs with a task vector; name without the -s<seed> suffix. seed None = unsuffixed runs;
    seed s prefers <name>-s<s> and falls back to <name> for s = 0 (the default seed of train_tangent.py)."""
    found = {}
    for d in sorted(Path(runs).iterdir()) if Path(runs).is_dir() else []:
        if not (d / "task_vector.safetensors").exists():
            continue
        m = re.fullmatch(r"(.+)-s(\d+)", d.name)
        name, s = (m.group(1), int(m.group(2))) if m else (d.name, None)
        if s == seed or (s is None and seed == 0 and name not in found):
            found[name] = d
    return found


class Scorer:
    """--scorer toy | length | hf:<model>, comma-joined (later ones override): response -> {attribute: float}.

    Every response also gets well_formed (toy: toyworld.is_well_formed; otherwise non-empty). The toy oracle
    gives a malformed response 0 on every attribute; on a MINIMIZED attribute 0 is the best value, so broken
    text would look perfectly concise. Here a malformed response is the worst on every axis instead: 0 on a
    maximized attribute, 4 (the top of the scale) on the minimized one."""

    def __init__(self, spec, maximize, device="cpu", minimize=None):
        self.parts, self.maximize, self.minimize = [s.strip() for s in spec.split(",") if s.strip()], maximize, minimize
        self.hf = {}
        for part in self.parts:
            if part.startswith("hf:"):
                from transformers import AutoModelForSequenceClassification, AutoTokenizer
                rm = AutoModelForSequenceClassification.from_pretrained(part[3:]).to(device).eval()
                self.hf[part] = (AutoTokenizer.from_pretrained(part[3:]), rm, device)
            elif part not in ("toy", "length"):
                raise SystemExit(f"--scorer {spec}: unknown part {part!r}; use toy, length or hf:<reward-model>")

    def __call__(self, prompts, responses):
        import toyworld
        out = [{"well_formed": float(bool(r and r.strip()))} for r in responses]
        for part in self.parts:
            if part == "toy":
                for o, p, r in zip(out, prompts, responses):
                    o.update({k: float(v) for k, v in toyworld.score(p, r).items()})
                    o["well_formed"] = float(toyworld.is_well_formed(p, r))
                    if not o["well_formed"] and self.minimize in o:
                        o[self.minimize] = float(toyworld.MAX_LEVEL)
            elif part == "length":
                for o, r in zip(out, responses):
                    o["verbosity"] = o["length"] = float(len(r.split()))
            else:
                for o, s in zip(out, self._hf(self.hf[part], prompts, responses)):
                    o.update(s)
        return out

    def _hf(self, loaded, prompts, responses, batch_size=16):
        import torch
        tok, rm, device = loaded
        labels = [rm.config.id2label[i] for i in range(rm.config.num_labels)]
        if len(labels) == 1:  # a single reward: it scores the maximized objective
            labels = [self.maximize]
        res = []
        for i in range(0, len(prompts), batch_size):
            enc = tok(prompts[i:i + batch_size], responses[i:i + batch_size], return_tensors="pt", padding=True,
                      truncation=True).to(device)
            with torch.no_grad():
                logits = rm(**enc).logits.float().cpu().numpy()
            res += [dict(zip(labels, map(float, row))) for row in logits]
        return res


def score_stats(scores, attrs):
    """{attr: {"mean", "se", "n"}} over a list of per-response score dicts."""
    out = {}
    for a in attrs:
        m, se, n = mean_se([s[a] for s in scores if a in s])
        out[a] = {"mean": m, "se": se, "n": n}
    return out


def held_out(args, tok):
    """Held-out prompts (test split: no prompt seen in training), tokenized test pairs per objective, rated rows."""
    import random
    import data
    rows = data.load_rows(args.data, split="test")
    prompts = list(dict.fromkeys(r["prompt"] for r in rows))[:args.n_prompts]
    pairs = {}
    for obj in (args.maximize, args.minimize):
        ps = data.load_pairs(args.data, objective=obj, split="test")
        random.Random(0).shuffle(ps)
        pairs[obj] = data.tokenize_pairs(tok, ps[:args.n_pairs], max_length=args.max_length)
    random.Random(0).shuffle(rows)
    return prompts, pairs, rows[:args.n_cca]




def pooled_hidden(model, tok, rows, shift_of=None, linear=False, batch_size=32):
    """(N, d) last hidden layer mean-pooled over prompt + response tokens; with shift_of = tau: the shift
    h(theta0 + tau) - h(theta0), linear=True -> J_h tau by jvp (the linearized model's exact shift)."""
    import torch
    from torch.func import functional_call, jvp
    import linearize
    seqs = [tok(r["prompt"], add_special_tokens=False)["input_ids"] + tok(r["response"], add_special_tokens=False)
            ["input_ids"] for r in rows]
    moved = linearize.apply_vectors(model, [shift_of], [1.0]) if shift_of is not None and not linear else None
    out = []
    for i in range(0, len(seqs), batch_size):
        chunk = [s[:model.config.max_position_embeddings if hasattr(model.config, "max_position_embeddings")
                   else model.config.n_positions] for s in seqs[i:i + batch_size]]
        T = max(map(len, chunk))
        ids = torch.tensor([s + [tok.pad_token_id] * (T - len(s)) for s in chunk])
        mask = torch.tensor([[1] * len(s) + [0] * (T - len(s)) for s in chunk])

        def pool(m, theta=None):
            kw = dict(input_ids=ids, attention_mask=mask, output_hidden_states=True, use_cache=False)
            h = (functional_call(m, theta, args=(), kwargs=kw) if theta is not None else m(**kw)).hidden_states[-1]
            return (h * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)

        with torch.no_grad():
            if shift_of is None:
                out.append(pool(model))
            elif linear:
                names = [n for n, _ in model.named_parameters()]
                theta0 = {n: p.detach() for n, p in model.named_parameters()}
                tangent = {n: shift_of.tensors[n].to(p.dtype) if n in shift_of else torch.zeros_like(p)
                           for n, p in theta0.items()}
                assert set(shift_of.names) <= set(names), "task vector names must be base parameters"
                out.append(jvp(lambda th: pool(model, th), (theta0,), (tangent,))[1])
            else:
                out.append(pool(moved) - pool(model))
    return torch.cat(out).double().numpy()


def alpha_points(args):
    """The 2-D grid (alpha_a, alpha_b), the 1-D control sweeps (one vector moves, the other at 0), their union."""
    grid = [(a, b) for a in args.alphas_a for b in args.alphas_b]
    lo, hi, steps = args.control
    ctrl = [round(float(c), 6) for c in np.linspace(lo, hi, int(steps))]
    control = {args.maximize: [(c, 0.0) for c in ctrl], args.minimize: [(0.0, c) for c in ctrl]}
    singles = [(a, 0.0) for a in args.alphas_a] + [(0.0, b) for b in args.alphas_b]  # for xi
    union = list(dict.fromkeys(grid + singles + control[args.maximize] + control[args.minimize]))
    return grid, control, union


def run_points(args, name, tok, prompts, pairs, points, taus, lin=None, model=None, labels=None):
    """Generate + score every alpha point, and the pair margins on each objective's pairs. -> rows, margins."""
    import compose
    attrs = [args.maximize, args.minimize] + [a for a in args.extra_attrs if a not in (args.maximize, args.minimize)]
    attrs.append("well_formed")
    A = np.asarray(points, dtype=float).reshape(len(points), -1)
    t = time.time()
    responses = compose.generate_sweep(tok, prompts, [list(map(float, p)) for p in A], lin=lin, model=model,
                                       taus=taus, max_new_tokens=args.max_new_tokens, temperature=1.0,
                                       top_p=args.top_p, seed=args.gen_seed, batch_size=args.batch_size)
    t_gen = time.time() - t
    rows, margins = [], {}
    t = time.time()
    pair_res = {obj: compose.pair_sweep(tp, taus, A, beta=args.beta, lin=lin, model=model,
                                        batch_size=args.pair_batch_size, pad_id=tok.pad_token_id)
                for obj, tp in pairs.items()}
    t_pair = time.time() - t
    for i, p in enumerate(points):
        stats = score_stats(args.scorer_fn(prompts, responses[i]), attrs)
        pr = {obj: {k: float(np.asarray(r[k])[i]) for k in ("accuracy", "accuracy_se", "margin", "margin_se")}
              | {"n": int(r["n"])} for obj, r in pair_res.items()}
        row = {"method": name, "scores": stats, "pairs": pr}
        row.update(labels[i] if labels else {"alphas": dict(zip((args.maximize, args.minimize), map(float, p)))})
        rows.append(row)
    margins = {obj: np.asarray(r["margins"]) for obj, r in pair_res.items()}
    print(f"  {name}: {len(points)} points x {len(prompts)} prompts generated in {t_gen:.1f}s, "
          f"pairs in {t_pair:.1f}s", flush=True)
    return rows, margins


def xi_grid(args, points, margins):
    """(A, B) disentanglement error over alphas_a x alphas_b from the margins of `points` (P, N_t) per objective."""
    idx = {tuple(map(float, p)): i for i, p in enumerate(points)}
    ma, mb = margins[args.maximize], margins[args.minimize]
    xi = np.zeros((len(args.alphas_a), len(args.alphas_b)))
    for i, a in enumerate(args.alphas_a):
        for j, b in enumerate(args.alphas_b):
            joint = idx[(a, b)]
            xi[i, j] = disentanglement_error(ma[idx[(a, 0.0)]], mb[idx[(0.0, b)]], ma[joint], mb[joint], a, b)
    return xi


def front_metrics(args, rows):
    """HV +- se, #non-dominated, coverage per axis of a method's points (means per axis)."""
    a, b = args.maximize, args.minimize
    means = np.array([[r["scores"][a]["mean"], r["scores"][b]["mean"]] for r in rows])
    ses = np.array([[r["scores"][a]["se"], r["scores"][b]["se"]] for r in rows])
    mx = (True, False)
    cov = coverage(means, mx)
    return {"hv": hypervolume_2d(means, args.ref, mx, args.bounds),
            "hv_se": hypervolume_se(means, ses, args.ref, mx, args.bounds, seed=args.gen_seed),
            "n_front": int(pareto_mask(means, mx).sum()), "n_points": len(rows),
            "well_formed_mean": float(np.mean([r["scores"]["well_formed"]["mean"] for r in rows])),
            "well_formed_min": float(np.min([r["scores"]["well_formed"]["mean"] for r in rows])),
            f"coverage_{a}": float(cov[0]), f"coverage_{b}": float(cov[1])}


def control_metrics(args, rows_by_alpha, control):
    """Spearman and max jump of each vector's own attribute along its 1-D sweep."""
    out = {}
    for k, obj in enumerate((args.maximize, args.minimize)):
        pts = control[obj]
        s = [rows_by_alpha[p]["scores"][obj]["mean"] for p in pts]
        out[f"spearman_{obj}"] = spearman([p[k] for p in pts], s)
        out[f"max_jump_{obj}"] = max_jump(s)
        out[f"curve_{obj}"] = {"alpha": [p[k] for p in pts], "mean": s,
                               "se": [rows_by_alpha[p]["scores"][obj]["se"] for p in pts]}
    return out


def evaluate_seed(args, seed, timings):
    """Everything for one seed's runs -> {"rows": [...], "methods": {name: metrics}, "xi": {...}, "cca": {...}}."""
    import torch
    import compose
    import linearize
    from tqdm import tqdm
    runs = find_runs(args.runs, seed)
    a, b = args.maximize, args.minimize
    t = time.time()
    model = linearize.load_model(args.base)
    tok = linearize.load_tokenizer(args.base)
    prompts, pairs, cca_rows = held_out(args, tok)
    timings["load"] = timings.get("load", 0) + time.time() - t
    grid, control, union = alpha_points(args)
    out = {"rows": [], "methods": {}, "xi": {}, "cca": {}, "seed": seed}
    load = lambda names: [linearize.TaskVector.load(runs[n], base_model=model) for n in names]

    todo = []
    for name, (prefix, kind) in METHODS.items():
        if name == "TS-DPO (nonlinear)" and not args.ablation:
            continue
        names = [f"{prefix}-{a}", f"{prefix}-{b}"]
        missing = [n for n in names if n not in runs]
        if missing:
            print(f"note: {name} skipped (seed {seed}): no run {', '.join(missing)} under {args.runs}", flush=True)
            continue
        todo.append((name, kind, load(names)))
    if "scal-1" not in runs and f"dpo-{a}" in runs and any(n.startswith("scal-") for n in runs):
        # weights a=1, b=0 score pairs by a alone: that run IS plain DPO on a (make demo does not train it twice)
        runs["scal-1"] = runs[f"dpo-{a}"]
        print(f"note: scalarized DPO at {a}=1,{b}=0 is plain DPO on {a}: using {runs['scal-1']}", flush=True)
    scal = sorted((n for n in runs if n.startswith("scal-")), key=lambda n: float(n[5:]))
    if not scal:
        print(f"note: scalarized DPO skipped (seed {seed}): no scal-<w> runs under {args.runs}", flush=True)
    if not todo and not scal:
        raise SystemExit(f"evaluate.py: no ts-/dpo-/scal- runs for seed {seed} under {args.runs}; train them first "
                         f"(make demo or train_tangent.py --out {args.runs}/ts-{a})")

    t = time.time()
    for name, kind, taus in tqdm(todo, desc="methods", leave=False):
        lin = compose.linearize_for(model, taus) if kind == "linear" else None  # moves exactly what tau touches
        rows, margins = run_points(args, name, tok, prompts, pairs, union, taus,
                                   lin=lin, model=None if lin is not None else model)
        by_alpha = {p: r for p, r in zip(union, rows)}
        out["rows"] += [r | {"sweep": "grid" if p in grid else "control"} for p, r in zip(union, rows)]
        m = front_metrics(args, [by_alpha[p] for p in grid])
        m.update(control_metrics(args, by_alpha, control))
        xi = xi_grid(args, union, margins)
        out["xi"][name] = xi.tolist()
        m["xi_mean"] = float(xi.mean())
        m["xi_max"] = float(xi.max())
        t_c = time.time()
        shifts = {obj: pooled_hidden(model, tok, cca_rows, tau, linear=(kind == "linear")) for obj, tau in zip((a, b), taus)}
        labels = np.array([[r[x] for x in args.extra_attrs] for r in cca_rows], dtype=float)
        out["cca"][name] = cca_report(shifts, labels, args.cca_k, seed=seed)
        m["cca_shift_vs_shift"] = out["cca"][name]["shift_vs_shift"][0]
        for obj in (a, b):
            m[f"cca_{obj}_vs_labels"] = out["cca"][name][f"{obj}_vs_labels"][0]
        timings["cca"] = timings.get("cca", 0) + time.time() - t_c
        out["methods"][name] = m
    timings["composed methods"] = timings.get("composed methods", 0) + time.time() - t

    t = time.time()
    if scal:
        taus = load(scal)
        eye = np.eye(len(scal)).tolist()
        labels = [{"weights": runs_weights(runs[n]) or f"{a}=1,{b}=0", "w": float(n[5:])} for n in scal]
        rows, _ = run_points(args, "scalarized DPO", tok, prompts, pairs, eye, taus, model=model, labels=labels)
        out["rows"] += [r | {"sweep": "scalarized"} for r in rows]
        m = front_metrics(args, rows)
        for k, obj in enumerate((a, b)):  # control by retraining: score vs the weight on the objective
            ws = [r["w"] - k for r in rows]
            s = [r["scores"][obj]["mean"] for r in rows]
            m[f"spearman_{obj}"], m[f"max_jump_{obj}"] = spearman(ws, s), max_jump(s)
        out["methods"]["scalarized DPO"] = m
    base_resp = compose.generate(tok, prompts, model=model, max_new_tokens=args.max_new_tokens, temperature=1.0,
                                 top_p=args.top_p, seed=args.gen_seed, batch_size=args.batch_size)
    attrs = [a, b] + [x for x in args.extra_attrs if x not in (a, b)] + ["well_formed"]
    base_row = {"method": "base", "alphas": {a: 0.0, b: 0.0}, "scores": score_stats(args.scorer_fn(prompts, base_resp), attrs),
                "pairs": None, "sweep": "base"}
    out["rows"].append(base_row)
    out["methods"]["base"] = front_metrics(args, [base_row])
    timings["scalarized + base"] = timings.get("scalarized + base", 0) + time.time() - t
    for r in out["rows"]:
        r["seed"] = seed
    return out


def runs_weights(run_dir):
    """The weighting string of a scalarized run (task-vector metadata "weights", else config.json)."""
    from safetensors import safe_open
    with safe_open(str(Path(run_dir) / "task_vector.safetensors"), framework="pt") as f:
        meta = f.metadata() or {}
    if "weights" in meta:
        return meta["weights"]
    cfg = Path(run_dir) / "config.json"
    return json.loads(cfg.read_text()).get("weights", "?") if cfg.exists() else "?"


HEADLINE = ("hv", "n_front", "xi_mean", "cca_shift_vs_shift")


def aggregate(per_seed, args):
    """Per method: the seed-0 metrics, plus mean and sd over seeds of every numeric headline metric."""
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


# ----------------------------------------------------------------------------- main
def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", default="runs", help="folder of runs: base, ts-<obj>, dpo-<obj>, scal-<w> (+ -s<seed>)")
    p.add_argument("--base", default=None, help="theta0 folder (default: <runs>/base)")
    p.add_argument("--out", default="results", help="results folder")
    p.add_argument("--data", default="toy", help="source of held-out prompts, pairs and rated rows (data.py)")
    p.add_argument("--maximize", default="helpfulness", help="objective whose vector gets --alphas-a (x axis)")
    p.add_argument("--minimize", default="verbosity", help="objective whose vector gets --alphas-b (y axis)")
    p.add_argument("--alphas-a", default="0,0.5,1,1.5", help="grid for the maximized objective's vector")
    p.add_argument("--alphas-b", default="-1.5,-1,-0.5,0", help="grid for the minimized one (negative = less); write --alphas-b=-1.5,-1,0 (with =)")
    p.add_argument("--control", default="-2,2,9", help="1-D sweeps per vector: lo,hi,steps")
    p.add_argument("--scorer", default="toy", help="toy | length | hf:<reward-model>, comma-joined (later override)")
    p.add_argument("--bounds", default=None, help="lo,hi of both axes for HV (default toy: 0,4; else from the data)")
    p.add_argument("--n-prompts", type=int, default=48, help="held-out prompts (one sample each per point)")
    p.add_argument("--max-new-tokens", type=int, default=80, help="enough for the toy world's longest answer (70 tokens)")
    p.add_argument("--top-p", type=float, default=0.95, help="nucleus sampling, as in base_model.py's score report")
    p.add_argument("--n-pairs", type=int, default=64, help="held-out pairs per objective (accuracy, margin, xi)")
    p.add_argument("--n-cca", type=int, default=128, help="held-out rated rows for CCA")
    p.add_argument("--cca-k", type=int, default=8, help="principal components per side before CCA")
    p.add_argument("--max-length", type=int, default=128, help="pair truncation (data.tokenize_pair)")
    p.add_argument("--beta", type=float, default=0.1, help="implicit reward scale (as in training)")
    p.add_argument("--batch-size", type=int, default=256, help="generation rows per batch")
    p.add_argument("--pair-batch-size", type=int, default=32)
    p.add_argument("--gen-seed", type=int, default=0, help="sampling seed (the same for every method)")
    p.add_argument("--seeds", type=int, nargs="*", default=None, help="aggregate runs/<name>-s<seed> over these seeds")
    p.add_argument("--no-ablation", dest="ablation", action="store_false", help="skip ts vectors in the nonlinear model")
    p.add_argument("--device", default="cpu")
    args = p.parse_args(argv)
    args.alphas_a, args.alphas_b = floats(args.alphas_a), floats(args.alphas_b)
    args.control = floats(args.control)
    if len(args.control) != 3 or args.control[2] < 2:
        raise SystemExit(f"--control {args.control}: give lo,hi,steps with steps >= 2, e.g. -2,2,9")
    if 0.0 not in args.alphas_a or 0.0 not in args.alphas_b:
        raise SystemExit("--alphas-a/--alphas-b must contain 0 (the single-vector points xi is measured against)")
    args.base = args.base or str(Path(args.runs) / "base")
    return args


def main(argv=None):
    args = parse_args(argv)
    import toyworld
    args.extra_attrs = list(toyworld.ATTRIBUTES) if args.data == "toy" else [args.maximize, args.minimize]
    args.scorer_fn = Scorer(args.scorer, args.maximize, args.device, minimize=args.minimize)
    fixed = args.bounds is not None or args.scorer == "toy"
    lo_hi = floats(args.bounds) if args.bounds else [0.0, 4.0]
    args.bounds = (tuple(lo_hi), tuple(lo_hi))
    args.ref = (lo_hi[0], lo_hi[1])  # worst corner: lowest maximized, highest minimized
    os.makedirs(args.out, exist_ok=True)
    if not Path(args.base).exists():
        raise SystemExit(f"evaluate.py: no base model at {args.base}; run base_model.py --out {args.base} or pass --base")
    t0, timings, notes = time.time(), {}, []
    per_seed = [evaluate_seed(args, s, timings) for s in (args.seeds or [None])]
    if not fixed:  # no stated bounds: take them from the data, say so, and recompute the fronts
        allv = [r["scores"][k]["mean"] for o in per_seed for r in o["rows"] for k in (args.maximize, args.minimize)]
        lo_hi = [min(allv), max(allv)]
        args.bounds, args.ref = (tuple(lo_hi), tuple(lo_hi)), (lo_hi[0], lo_hi[1])
        notes.append(f"no --bounds: HV box taken from the data, [{lo_hi[0]:.3g}, {lo_hi[1]:.3g}] on both axes "
                     "(numbers compare within this run only)")
        for o in per_seed:
            for name in o["methods"]:
                o["methods"][name].update(front_metrics(args, [r for r in o["rows"] if r["method"] == name
                                                               and r["sweep"] in ("grid", "scalarized", "base")]))
    methods = aggregate(per_seed, args)
    t = time.time()
    rows = [r for o in per_seed for r in o["rows"]]
    atomic_write(Path(args.out) / "sweep.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    first = per_seed[0]
    plot_pareto(first["rows"], args, Path(args.out) / "pareto.png")
    plot_control(first["methods"], args, Path(args.out) / "control.png")
    plot_xi(first["xi"], args, Path(args.out) / "disentanglement.png")
    plot_cca(first["cca"], args, Path(args.out) / "cca.png")
    timings["plots"] = time.time() - t
    timings["total"] = time.time() - t0
    config = {k: v for k, v in vars(args).items() if k != "scorer_fn"}
    summary = {"config": config, "methods": methods, "verdicts": verdicts(methods, args), "notes": notes,
               "xi": {o["seed"] if o["seed"] is not None else "-": o["xi"] for o in per_seed},
               "cca": {o["seed"] if o["seed"] is not None else "-": o["cca"] for o in per_seed}, "timings_s": timings}
    atomic_write(Path(args.out) / "summary.json", json.dumps(summary, indent=1, default=str))
    md = summary_markdown(methods, args, notes, timings)
    atomic_write(Path(args.out) / "summary.md", md)
    print(md)
    print(f"wrote {args.out}/sweep.jsonl summary.json summary.md pareto.png control.png disentanglement.png cca.png "
          f"in {timings['total']:.0f}s")


if __name__ == "__main__":
    main()
