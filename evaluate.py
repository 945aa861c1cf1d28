"""The evaluation experiment: compose task vectors over alpha grids, score what they generate, compare methods.

Methods compared (same base theta0, data, beta and step budget; grids are flags):
  TS-DPO                 tangent vectors tau_a, tau_b composed in the linearized model f0 + sum_k alpha_k J tau_k
  DPO task arithmetic    standard vectors (theta_k - theta0) composed in the nonlinear model theta0 + sum_k alpha_k tau_k
  scalarized DPO         one standard run per weighting w (the weight on the maximized objective), alpha = 1
  base                   theta0
  ablation               the tangent vectors applied to the nonlinear model ("TS-DPO (nonlinear)")

Runs are found by their config.json (runs.find_runs: mode, objective or weights, seed), never by folder
names: any --out of train_tangent.py works. A standard run on the maximized objective alone is the weighting
a=1, b=0, so it is reused as that scalarized point when other scalarized runs exist.

What is measured at every alpha point (formulas of the metrics themselves: metrics.py):
  scores      s(alpha) = mean over held-out prompts x of score(x, y), y ~ pi_{theta0 + sum_k alpha_k tau_k}(.|x)
              (temperature 1, top-p; toy oracle 0-4, word count, or a HF reward model), with se = sd / sqrt(n).
  pairs       implicit margin m = beta [(log pi - log pi_0)(y_c|x) - (log pi - log pi_0)(y_r|x)] on each
              objective's held-out pairs: accuracy P(m > 0), mean margin; their signs give xi (metrics.py).
  shifts      h(x) = last hidden layer, mean-pooled over the prompt + response tokens of held-out rated rows;
              shift_k = J_h tau_k (one jvp, linearize.py) for tangent vectors, h(theta0 + tau_k) - h(theta0) for
              standard ones; CCA of shift_a vs shift_b and of each shift vs the rows' attribute labels.
Every nonlinear point samples with the same seed (common random numbers); the linearized points share one batch.

    python evaluate.py --runs runs --out results --maximize helpfulness --minimize verbosity
    python evaluate.py --runs runs --out results --seeds 0 1 2            # runs whose config.json seed is 0, 1, 2
    python evaluate.py --scorer hf:<reward-model>,length                  # RM for helpfulness, words for verbosity
    python evaluate.py --alphas-a 0,0.25,0.5,0.75,1,1.25,1.5 --alphas-b=-1.5,-1.25,-1,-0.75,-0.5,-0.25,0  # finer (~3x slower)
The defaults (parse_args) are sized for the tiny CPU demo, about 3 minutes on 2 cores. Negative values need the
= form (--alphas-b=-2,-1,0). Outputs, written by report.py (summary.json last): results/sweep.jsonl, summary.md,
summary.json, pareto.png, control.png, disentanglement.png, cca.png.
"""
import argparse
import math
import random
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm
from transformers import AutoModelForSequenceClassification, AutoTokenizer

import compose
import data
import linearize
import toyworld
from metrics import (cca_report, coverage, disentanglement_error, hypervolume_2d, hypervolume_se, max_jump,
                     mean_se, pareto_mask, spearman)
from report import aggregate, write_results
from runs import check_out, find_runs, in_range, positive, run_cli

METHODS = {  # name -> (training mode of its runs, model the vectors are composed in)
    "TS-DPO": ("tangent", "linear"),
    "DPO task arithmetic": ("standard", "nonlinear"),
    "TS-DPO (nonlinear)": ("tangent", "nonlinear"),  # ablation: tangent vectors, nonlinear model
}


# ----------------------------------------------------------------------------- which runs (from config.json)
def select_runs(found, seed, a, b, root="runs"):
    """The runs of one seed: {"vectors": {(mode, objective): folder}, "scalarized": [(w, weights, folder)]}.

    found: runs.find_runs(root) = [(folder, config)]. Scalarized runs are the standard runs with weights over a
    and b only, sorted by w = the weight on a. Two finished runs that claim the same (mode, objective or weights,
    seed) are refused, and so is a seed with nothing to compare: which runs to evaluate would be a guess."""
    claimed, weights = {}, {}
    for d, cfg in (f for f in found if f[1]["seed"] == seed):
        try:
            ws = data.parse_weights(cfg["weights"]) if cfg["weights"] and not cfg["objective"] else None
        except ValueError as e:
            raise ValueError(f"{d}/config.json: {e}") from None
        if not (cfg["objective"] or ws):
            raise ValueError(f"{d}/config.json: neither objective nor weights is set; delete {d} and train it again")
        key = (cfg["mode"], cfg["objective"] or data.weights_label(ws))
        if key in claimed:
            raise ValueError(f"{claimed[key]} and {d} are both finished {key[0]} runs of {key[1]}, seed {seed}; "
                             f"move one of them out of --runs {root}")
        claimed[key] = d
        weights[key] = ws
    vectors = {key: d for key, d in claimed.items() if weights[key] is None}
    scal = [(ws.get(a, 0.0), key[1], claimed[key]) for key, ws in weights.items()
            if ws and key[0] == "standard" and set(ws) <= {a, b}]
    for key in (k for k, ws in weights.items() if ws and (k[0] != "standard" or not set(ws) <= {a, b})):
        print(f"note: {claimed[key]} skipped: a {key[0]} run of {key[1]}, not a scalarized trade-off of {a} and {b}")
    if scal and ("standard", a) in vectors and not any(w == 1 and not weights[("standard", label)].get(b)
                                                         for w, label, _ in scal):
        # weights a=1, b=0 score pairs by a alone: that run IS plain DPO on a (make demo does not train it twice)
        scal.append((1.0, None, vectors[("standard", a)]))
        print(f"note: scalarized DPO at {a}=1,{b}=0 is plain DPO on {a}: using {vectors[('standard', a)]}", flush=True)
    if not scal and not any({(mode, a), (mode, b)} <= set(vectors) for mode in ("tangent", "standard")):
        raise ValueError(f"--runs {root}: no finished runs of seed {seed} to compare for {a} and {b} (found by their "
                         f"config.json); train them first (make demo, or train_tangent.py --objective {a}, then {b})")
    return {"vectors": vectors, "scalarized": sorted(scal, key=lambda s: (s[0], s[1] or ""))}


# ----------------------------------------------------------------------------- scoring
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
                rm = AutoModelForSequenceClassification.from_pretrained(part[3:]).to(device).eval()
                self.hf[part] = (AutoTokenizer.from_pretrained(part[3:]), rm, device)

    def __call__(self, prompts, responses):
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


# ----------------------------------------------------------------------------- held-out data and hidden states
def held_out(args, tok):
    """Held-out prompts (test split: no prompt seen in training), tokenized test pairs per objective, rated rows."""
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
    """(N, d) h = last hidden layer mean-pooled over prompt + response tokens; with shift_of = tau the shift
    instead: linear=True -> J_h tau (a jvp through linearize.py: the linearized model's exact shift), else the
    nonlinear h(theta0 + tau) - h(theta0)."""
    seqs = [tok(r["prompt"], add_special_tokens=False)["input_ids"] + tok(r["response"], add_special_tokens=False)
            ["input_ids"] for r in rows]
    lin = compose.linearize_for(model, [shift_of]) if shift_of is not None and linear else None
    moved = linearize.apply_vectors(model, [shift_of], [1.0]) if shift_of is not None and not linear else None
    max_positions = (model.config.max_position_embeddings if hasattr(model.config, "max_position_embeddings")
                     else model.config.n_positions)
    out = []
    for i in range(0, len(seqs), batch_size):
        chunk = [s[:max_positions] for s in seqs[i:i + batch_size]]
        T = max(map(len, chunk))
        kw = dict(input_ids=torch.tensor([s + [tok.pad_token_id] * (T - len(s)) for s in chunk]),
                  attention_mask=torch.tensor([[1] * len(s) + [0] * (T - len(s)) for s in chunk]),
                  output_hidden_states=True, use_cache=False)
        mask = kw["attention_mask"][..., None]
        pool = lambda output: (output.hidden_states[-1] * mask).sum(1) / mask.sum(1)  # (B, T, d) -> (B, d)
        with torch.no_grad():
            if shift_of is None:
                out.append(pool(model(**kw)))
            elif linear:
                out.append(lin.jvp_of(lambda theta: pool(lin.call(theta, **kw)), shift_of)[1])
            else:
                out.append(pool(moved(**kw)) - pool(model(**kw)))
    return torch.cat(out).double().numpy()


# ----------------------------------------------------------------------------- alpha points and their metrics
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
    """Generate + score every alpha point (P, K), and the pair margins on each objective's pairs. -> rows, margins."""
    attrs = [args.maximize, args.minimize] + [a for a in args.extra_attrs if a not in (args.maximize, args.minimize)]
    attrs.append("well_formed")
    A = np.asarray(points, dtype=float).reshape(len(points), -1)
    t = time.time()
    responses = compose.generate_sweep(tok, prompts, [list(map(float, p)) for p in A], lin=lin, model=model,
                                       taus=taus, max_new_tokens=args.max_new_tokens, temperature=1.0,
                                       top_p=args.top_p, seed=args.gen_seed, batch_size=args.batch_size)
    t_gen = time.time() - t
    rows = []
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


# ----------------------------------------------------------------------------- one seed
def evaluate_seed(args, seed, runs, timings):
    """Everything for one seed's runs (select_runs) -> {"rows", "methods": {name: metrics}, "xi", "cca", "seed"}.
    seed None: no --seeds given (the runs of seed 0; rows say seed None)."""
    a, b = args.maximize, args.minimize
    t = time.time()
    model = linearize.load_model(args.base)
    tok = linearize.load_tokenizer(args.base)
    prompts, pairs, cca_rows = held_out(args, tok)
    timings["load"] = timings.get("load", 0) + time.time() - t
    grid, control, union = alpha_points(args)
    out = {"rows": [], "methods": {}, "xi": {}, "cca": {}, "seed": seed}
    load = lambda folders: [linearize.TaskVector.load(d, base_model=model) for d in folders]

    todo = []
    for name, (mode, kind) in METHODS.items():
        if name == "TS-DPO (nonlinear)" and not args.ablation:
            continue
        missing = [obj for obj in (a, b) if (mode, obj) not in runs["vectors"]]
        if missing:
            print(f"note: {name} skipped (seed {seed}): no finished {mode} run of objective {', '.join(missing)} "
                  f"under {args.runs}", flush=True)
            continue
        todo.append((name, kind, load([runs["vectors"][(mode, obj)] for obj in (a, b)])))
    scal = runs["scalarized"]
    if not scal:
        print(f"note: scalarized DPO skipped (seed {seed}): no standard runs with --weights over {a} and {b} "
              f"under {args.runs}", flush=True)

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
        out["cca"][name] = cca_report(shifts, labels, args.cca_k, seed=0 if seed is None else seed)
        m["cca_shift_vs_shift"] = out["cca"][name]["shift_vs_shift"][0]
        for obj in (a, b):
            m[f"cca_{obj}_vs_labels"] = out["cca"][name][f"{obj}_vs_labels"][0]
        timings["cca"] = timings.get("cca", 0) + time.time() - t_c
        out["methods"][name] = m
    timings["composed methods"] = timings.get("composed methods", 0) + time.time() - t

    t = time.time()
    if scal:
        taus = load([d for _, _, d in scal])
        eye = np.eye(len(scal)).tolist()
        labels = [{"weights": label or f"{a}=1,{b}=0", "w": w} for w, label, _ in scal]
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


# ----------------------------------------------------------------------------- flags
def numbers(text):
    """argparse type: '0,0.5,1' -> [0.0, 0.5, 1.0]; anything else is a usage error naming the flag."""
    try:
        values = [float(v) for v in str(text).split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"cannot parse {text!r} as comma-separated numbers, e.g. 0,0.5,1") from None
    if not values or not all(math.isfinite(v) for v in values):
        raise argparse.ArgumentTypeError(f"{text!r}: give finite comma-separated numbers, e.g. 0,0.5,1")
    return values


def scorer_spec(spec):
    """argparse type: 'toy,hf:<model>' passes; an unknown part is a usage error naming --scorer."""
    for part in [x.strip() for x in spec.split(",") if x.strip()] or [""]:
        if part not in ("toy", "length") and not (part.startswith("hf:") and part[3:].strip()):
            raise argparse.ArgumentTypeError(f"unknown part {part!r} in {spec!r}; use toy, length or hf:<reward-model>")
    return spec


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", default="runs", help="folder of training runs (any names; found by their config.json)")
    p.add_argument("--base", default=None, help="theta0 folder (default: <runs>/base)")
    p.add_argument("--out", default="results", help="results folder")
    p.add_argument("--data", default="toy", help="source of held-out prompts, pairs and rated rows (data.py)")
    p.add_argument("--maximize", default="helpfulness", help="objective whose vector gets --alphas-a (x axis)")
    p.add_argument("--minimize", default="verbosity", help="objective whose vector gets --alphas-b (y axis)")
    p.add_argument("--alphas-a", type=numbers, default="0,0.5,1,1.5", help="grid for the maximized objective's vector")
    p.add_argument("--alphas-b", type=numbers, default="-1.5,-1,-0.5,0", help="grid for the minimized one (negative = less); write --alphas-b=-1.5,-1,0 (with =)")
    p.add_argument("--control", type=numbers, default="-2,2,9", help="1-D sweeps per vector: lo,hi,steps")
    p.add_argument("--scorer", type=scorer_spec, default="toy", help="toy | length | hf:<reward-model>, comma-joined (later override)")
    p.add_argument("--bounds", type=numbers, default=None, help="lo,hi of both axes for HV (default toy: 0,4; else from the data)")
    p.add_argument("--n-prompts", type=positive(int), default=48, help="held-out prompts (one sample each per point)")
    p.add_argument("--max-new-tokens", type=positive(int), default=80, help="enough for the toy world's longest answer (70 tokens)")
    p.add_argument("--top-p", type=in_range(0, 1, float, lo_open=True), default=compose.TOP_P,
                   help="nucleus sampling, in (0, 1] (default compose.TOP_P, the project's sampling default)")
    p.add_argument("--n-pairs", type=positive(int), default=64, help="held-out pairs per objective (accuracy, margin, xi)")
    p.add_argument("--n-cca", type=in_range(3, math.inf, int), default=128, help="held-out rated rows for CCA (>= 3)")
    p.add_argument("--cca-k", type=positive(int), default=8, help="principal components per side before CCA")
    p.add_argument("--max-length", type=in_range(2, math.inf, int), default=128, help="pair truncation (data.tokenize_pair), >= 2")
    p.add_argument("--beta", type=positive(float), default=0.1, help="implicit reward scale (as in training)")
    p.add_argument("--batch-size", type=positive(int), default=256, help="generation rows per batch")
    p.add_argument("--pair-batch-size", type=positive(int), default=32)
    p.add_argument("--gen-seed", type=positive(int, allow_zero=True), default=0, help="sampling seed (the same for every method)")
    p.add_argument("--seeds", type=positive(int, allow_zero=True), nargs="*", default=None,
                   help="evaluate the runs whose config.json seed is each of these, and aggregate (default: seed 0)")
    p.add_argument("--no-ablation", dest="ablation", action="store_false", help="skip tangent vectors in the nonlinear model")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="where a hf: reward model runs")
    args = p.parse_args(argv)
    c = args.control
    if len(c) != 3 or not c[0] < c[1] or c[2] < 2 or c[2] != int(c[2]):
        p.error(f"--control {','.join(f'{v:g}' for v in args.control)}: give lo,hi,steps with lo < hi and a whole "
                f"number of steps >= 2, e.g. -2,2,9")
    for flag, alphas in (("--alphas-a", args.alphas_a), ("--alphas-b", args.alphas_b)):
        if 0.0 not in alphas:
            p.error(f"{flag} must contain 0 (the single-vector points xi is measured against)")
    if args.bounds is not None and (len(args.bounds) != 2 or not args.bounds[0] < args.bounds[1]):
        p.error("--bounds: give lo,hi with lo < hi, e.g. 0,4")
    if args.maximize == args.minimize:
        p.error(f"--maximize and --minimize are both {args.maximize!r}; give two different objectives")
    if args.seeds is not None and len(set(args.seeds)) != len(args.seeds):
        p.error(f"--seeds {' '.join(map(str, args.seeds))}: give each seed once")
    if args.device == "cuda" and not torch.cuda.is_available():
        p.error("--device cuda: no CUDA device visible; use --device cpu")
    args.base = args.base or str(Path(args.runs) / "base")
    return args


# ----------------------------------------------------------------------------- main
def main(argv=None):
    args = parse_args(argv)
    a, b = args.maximize, args.minimize
    check_out(args.out, "--out")
    if not Path(args.base).exists():
        raise ValueError(f"--base {args.base}: no base model there; run base_model.py --out {args.base} or pass --base")
    if not Path(args.runs).is_dir():
        raise ValueError(f"--runs {args.runs}: no such folder; train runs first (make demo) or pass --runs")
    found = find_runs(args.runs)  # a corrupt config.json stops here, before any work
    runs_of = {s: select_runs(found, 0 if s is None else s, a, b, args.runs) for s in (args.seeds or [None])}
    args.extra_attrs = list(toyworld.ATTRIBUTES) if args.data == "toy" else [a, b]
    args.scorer_fn = Scorer(args.scorer, a, args.device, minimize=b)
    fixed = args.bounds is not None or args.scorer == "toy"
    lo_hi = args.bounds or [0.0, 4.0]
    args.bounds = (tuple(lo_hi), tuple(lo_hi))
    args.ref = (lo_hi[0], lo_hi[1])  # worst corner: lowest maximized, highest minimized
    t0, timings, notes = time.time(), {}, []
    per_seed = [evaluate_seed(args, s, runs_of[s], timings) for s in runs_of]
    if not fixed:  # no stated bounds: take them from the data, say so, and recompute the fronts
        allv = [r["scores"][k]["mean"] for o in per_seed for r in o["rows"] for k in (a, b)]
        lo_hi = [min(allv), max(allv)]
        args.bounds, args.ref = (tuple(lo_hi), tuple(lo_hi)), (lo_hi[0], lo_hi[1])
        notes.append(f"no --bounds: HV box taken from the data, [{lo_hi[0]:.3g}, {lo_hi[1]:.3g}] on both axes "
                     "(numbers compare within this run only)")
        for o in per_seed:
            for name in o["methods"]:
                o["methods"][name].update(front_metrics(args, [r for r in o["rows"] if r["method"] == name
                                                               and r["sweep"] in ("grid", "scalarized", "base")]))
    methods = aggregate(per_seed)
    key = lambda s: s if s is not None else "-"
    used = {key(s): {f"{mode}/{obj}": str(d) for (mode, obj), d in r["vectors"].items()}
            | {f"standard/{label or f'{a}=1,{b}=0'}": str(d) for _, label, d in r["scalarized"]} for s, r in runs_of.items()}
    write_results(args, per_seed, methods, notes, timings, used, t0)


if __name__ == "__main__":
    run_cli(main)
