"""The evaluation experiment: compose task vectors over alpha points, score what they generate, measure how far
each point moves from the base; measure/report.py turns the numbers into paired comparisons.

Methods (same base theta0, data, beta and step budget), their runs found by config.json (plumbing.run_folder.find_runs):
  TS-DPO               tangent vectors composed in the linearized model f0 + sum_k alpha_k J tau_k
  DPO task arithmetic  standard vectors (theta_k - theta0) composed in the nonlinear model theta0 + sum_k alpha_k tau_k
  scalarized DPO       one standard run per weighting (w_a, w_b) at alpha = 1 (plain DPO on a is the weighting 1, 0)
  TS-DPO (nonlinear)   ablation: the tangent vectors in the nonlinear model;   base: theta0
Points of a composed method: the grid alphas_a x alphas_b (HV, xi), a 1-D control sweep per vector (Spearman, max
jump), each vector alone at alpha = 1 (pair accuracy), and one equal-budget point per scalarized run: alphas =
s (w_a, w_b) with s set so that its KL equals that run's (sweeps.kl_scale): as many points as scalarized DPO has,
along the same trade-off directions. --calibrate kl first rescales every vector so that alpha = 1 alone spends
the same KL (--kl-target, default the median over the composed vectors of their own alpha = 1 KL).

Measured at every point (metrics: measure/metrics.py; statistics and verdicts: measure/report.py):
  scores  per prompt i, the mean over samples j of score(x_i, y_ij), y_ij ~ pi_alpha(.|x_i) drawn from the stream
          of key i + n_prompts * j (generate.generate keys=): every method and point draws the same numbers (common
          random numbers), so alpha = 0 reproduces the base. Malformed text is the worst on both axes (measure/scoring.py).
  KL      per-token KL(pi_alpha || pi_0) over the response tokens of the held-out pairs (sweeps.pair_sweep).
  pairs   implicit margins beta [(log pi - log pi_0)(y_c|x) - (log pi - log pi_0)(y_r|x)] on each objective's
          held-out pairs and on controlled pairs (equal labels on the other attribute): accuracy, margin, xi.
  shifts  h(x) = last hidden layer mean-pooled over held-out rated rows; shift_k = J_h tau_k (linearized) or
          h(theta0 + tau_k) - h(theta0): CCA and its null, raw and with the inputs partialled out, principal angles.
Per vector: ||tau||, KL at alpha = 1, scale s, the linearization gap (sweeps.linearization_gap), cosines.

    python evaluate.py --runs runs --out results --maximize helpfulness --minimize verbosity
    python evaluate.py --n-prompts 128 --n-samples 2 --n-boot 2000 --calibrate kl     # the study setting
    python evaluate.py --seeds 0 1 2          # runs whose config.json seed is 0, 1, 2: two-level bootstrap
    python evaluate.py --scorer hf:<reward-model>,length --correlation 0.9
Defaults are sized for the CPU demo; a list may start negative (--alphas-b -1,0). Outputs (summary.json
last): sweep.jsonl (a row per method, seed and point, with per-prompt scores), summary.md, summary.json, pareto.png
(fronts, and against KL), control.png (against alpha and KL; pair accuracy), disentanglement.png, cca.png.
"""
import argparse
import math
import random
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

import base_model
import data
import generate
import linearize
import toyworld
from measure import sweeps
from measure.metrics import cca, cca_null, principal_angles, residualize, row_cosine
from measure.report import write_results
from measure.scoring import Scorer, scorer_spec
from plumbing import models
from plumbing.cli import Parser, in_range, positive, run_cli
from plumbing.run_folder import check_out, find_runs

METHODS = {  # name -> (training mode of its runs, model the vectors are composed in)
    "TS-DPO": ("tangent", "linear"),
    "DPO task arithmetic": ("standard", "nonlinear"),
    "TS-DPO (nonlinear)": ("tangent", "nonlinear"),  # ablation: tangent vectors, nonlinear model
}
GAP_ALPHAS = (0.5, 1.0, 2.0)
KL_RTOL = 0.01  # calibrated KLs match their targets to 1 % (sweeps.kl_scale's rtol): a tighter match costs time


# ----------------------------------------------------------------------------- which runs (from config.json)
def select_runs(found, seed, a, b, root="runs"):
    """The runs of one seed: {"vectors": {(mode, objective): folder}, "scalarized": [(w, weights, folder)]}.

    found: plumbing.run_folder.find_runs(root) = [(folder, config)]. Scalarized runs are the standard runs with weights over a
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
        raise ValueError(f"--runs {root}: " + missing_runs(found, seed, claimed, a, b))
    return {"vectors": vectors, "scalarized": sorted(scal, key=lambda s: (s[0], s[1] or ""))}


def missing_runs(found, seed, claimed, a, b):
    """What select_runs lacks, in words: the runs of the seed it found (mode/objective or weights), those it needs."""
    if not claimed:
        others = sorted({cfg["seed"] for _, cfg in found})
        return (f"no finished runs of seed {seed} to compare for {a} and {b} (found by their config.json"
                + (f"; there are runs of seed {', '.join(map(str, others))}" if others else "") + "); train them first "
                f"(make demo, or train_tangent.py --objective {a}, then {b})")
    have = ", ".join(f"{mode}/{obj} ({d})" for (mode, obj), d in claimed.items())
    need = {mode: " and ".join(f"{mode}/{obj}" for obj in (a, b) if (mode, obj) not in claimed)
            for mode in ("tangent", "standard")}  # select_runs got here: each mode lacks one objective at least
    return (f"the finished runs of seed {seed} cannot compare {a} and {b}: found {have}; still needed: "
            f"{need['tangent']} (TS-DPO), or {need['standard']} (DPO task arithmetic), or a standard run with "
            f"--weights over {a} and {b} (scalarized DPO); train them with train_tangent.py")


# ----------------------------------------------------------------------------- held-out data and hidden states
def held_out(args, tok, notes, block=0, blocks=1):
    """Held-out prompts (test split: no prompt seen in training), pair sets and rated rows for CCA.

    Pair sets {"all", "controlled"} -> {"pairs": tokenized a pairs then b pairs, "n": pairs per objective}: both
    objectives keep the same count n, so the bootstrap resamples pair i of a together with pair i of b. Pairs
    come from the test rows themselves (data.make_pairs, as data.load_pairs builds them): one load, not five.
    block of blocks (--disjoint-seeds): the block-th of `blocks` disjoint slices of each, in the same order."""
    a, b = args.maximize, args.minimize
    rows = data.load_rows(args.data, split="test", correlation=args.correlation)
    prompts = list(dict.fromkeys(r["prompt"] for r in rows))
    if len(prompts) < args.n_prompts * blocks:
        notes.append(f"--n-prompts {args.n_prompts}: the test split has {len(prompts)} prompts; all are used")
    part = lambda xs, n: xs[block * n:(block + 1) * n]
    sets = {}
    for kind in ("all", "controlled"):
        try:
            got = [data.drop_identical(data.make_pairs(rows, obj, control=other if kind == "controlled" else None))[0]
                   for obj, other in ((a, b), (b, a))]
        except ValueError as e:  # e.g. an attribute the source lacks: the pair metrics of this set are left out
            got = [[]]
            notes.append(f"{kind} pairs: {e}")
        for ps in got:
            random.Random(0).shuffle(ps)
        n = min(args.n_pairs, *(len(g) // blocks for g in got))
        if n == 0:
            notes.append(f"no {kind} held-out pairs of {a} and {b} in --data {args.data}; {kind} pair metrics left out")
            continue
        sets[kind] = {"n": n, "pairs": data.tokenize_pairs(tok, part(got[0], n) + part(got[1], n),
                                                            max_length=args.max_length)}
    if "all" not in sets:
        raise ValueError(f"--data {args.data}: no held-out pairs of {a} and {b} in the test split; give more rows")
    random.Random(0).shuffle(rows)
    return (part(prompts, min(args.n_prompts, len(prompts) // blocks)), sets,
            part(rows, min(args.n_cca, len(rows) // blocks)))


def pooled_hidden(model, tok, rows, shift_of=None, linear=False, batch_size=32):
    """(N, d) h = last hidden layer mean-pooled over prompt + response tokens; with shift_of = tau the shift
    instead: linear=True -> J_h tau (a jvp through linearize.py: the linearized model's exact shift), else the
    nonlinear h(theta0 + tau) - h(theta0)."""
    seqs = [tok(r["prompt"], add_special_tokens=False)["input_ids"] + tok(r["response"], add_special_tokens=False)
            ["input_ids"] for r in rows]
    lin = linearize.linearize_for(model, [shift_of]) if shift_of is not None and linear else None
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


def shift_geometry(args, shifts, h0, rows, seed):
    """What the two shifts (N, d) share: canonical spectrum and its permutation null (95th percentile per index),
    the same after partialling out the inputs Z = [top cca_k PCs of the base hidden state, prompt and response
    word counts] (metrics.residualize), R^2 of each shift on Z, principal angles between the top-cca_k directions
    of the shifts in hidden space (null: random subspaces of the same dimension), the mean row cosine, and each
    shift vs the rows' attribute labels."""
    (sa, A), (sb, B) = shifts.items()
    k, n_perm = args.cca_k, args.n_perm
    U, S, _ = np.linalg.svd(h0 - h0.mean(0), full_matrices=False)
    Z = np.column_stack([U[:, :k] * S[:k], [[len(r["prompt"].split()), len(r["response"].split())] for r in rows]])
    spectrum = lambda X, Y: {"spectrum": cca(X, Y, k).tolist(),
                             "null95": np.percentile(cca_null(X, Y, k, n_perm, seed), 95, axis=0).tolist()}
    labels = np.array([[r[x] for x in args.extra_attrs] for r in rows], dtype=float)
    r2 = lambda X: float(1 - np.square(residualize(X, Z)).sum() / np.square(X - X.mean(0)).sum())
    kp = min(k, len(A) - 1, A.shape[1])
    # null of the leading cosine: A's top-kp directions against a uniformly random kp-dim subspace of R^d
    rng, Qa = np.random.default_rng(seed), np.linalg.svd(A - A.mean(0), full_matrices=False)[2][:kp].T
    null_pa = [np.linalg.svd(Qa.T @ np.linalg.qr(rng.standard_normal((A.shape[1], kp)))[0], compute_uv=False)
               for _ in range(n_perm)]
    rc = row_cosine(A, B)
    return {"shift_vs_shift": spectrum(A, B), "shift_vs_shift_residual": spectrum(residualize(A, Z), residualize(B, Z)),
            "principal_angles": principal_angles(A, B, kp, space="rows").tolist(),
            "principal_angles_null95": np.percentile(null_pa, 95, axis=0).tolist(),
            "row_cosine": {"mean": rc[0], "se": rc[1]}, f"r2_inputs_{sa}": r2(A), f"r2_inputs_{sb}": r2(B),
            f"{sa}_vs_labels": spectrum(A, labels), f"{sb}_vs_labels": spectrum(B, labels)}


# ----------------------------------------------------------------------------- alpha points and what they measure
def alpha_points(args, eq=()):
    """{"points": union (P, 2) as tuples, "grid", "control_<a>", "control_<b>", "unit_<a>", "unit_<b>", "eq": index
    lists into the union}. eq: the equal-budget points, one per scalarized run."""
    a, b = args.maximize, args.minimize
    ctrl = [round(float(c), 6) for c in np.linspace(args.control[0], args.control[1], int(args.control[2]))]
    named = {"grid": [(x, y) for x in args.alphas_a for y in args.alphas_b], f"control_{a}": [(c, 0.0) for c in ctrl],
             f"control_{b}": [(0.0, c) for c in ctrl], f"unit_{a}": [(1.0, 0.0)], f"unit_{b}": [(0.0, 1.0)],
             "eq": [tuple(map(float, p)) for p in eq]}
    points = list(dict.fromkeys(p for pts in named.values() for p in pts))
    index = {p: i for i, p in enumerate(points)}
    return {"points": points} | {k: [index[p] for p in pts] for k, pts in named.items()}


@contextmanager
def timed(timings, what):
    t = time.time()
    yield
    timings[what] = timings.get(what, 0.0) + time.time() - t


def measure(args, ctx, taus, points, timings, lin=None, model=None, pairs=True):
    """Generate + score every alpha point (P, K) with common random numbers; sweep the pair sets.
    -> {"scores": {attr: (P, N) per-prompt means over samples}, "kl", "kl_se": (P,), "pairs": {set: result}}."""
    prompts, n, S = ctx["prompts"], len(ctx["prompts"]), args.n_samples
    keys = [i + n * j for j in range(S) for i in range(n)]  # prompt i, sample j: the same stream everywhere
    with timed(timings, "generate"):
        responses = generate.generate_sweep(ctx["tok"], prompts * S, [list(map(float, p)) for p in points], lin=lin,
                                            model=model, taus=taus, keys=keys, max_new_tokens=args.max_new_tokens,
                                            temperature=1.0, top_p=args.top_p, seed=args.gen_seed,
                                            batch_size=args.batch_size)
    with timed(timings, "score"):
        scored = [args.scorer_fn(prompts * S, r) for r in responses]
        per_prompt = {x: np.array([[s.get(x, np.nan) for s in sc] for sc in scored]).reshape(len(points), S, n).mean(1)
                      for x in ctx["attrs"]}
    out = {"scores": per_prompt, "kl": np.zeros(len(points)), "kl_se": np.zeros(len(points)), "pairs": {}}
    with timed(timings, "pair sweeps"):
        for kind, ps in ctx["sets"].items() if pairs else ():
            r = sweeps.pair_sweep(ps["pairs"], taus, np.asarray(points, dtype=float), beta=args.beta, lin=lin,
                                   model=model, kl=kind == "all", **ctx["chunks"])
            out["pairs"][kind] = {"margins": r["margins"].double().numpy(), "n": ps["n"]}
            if kind == "all":  # KL over the response tokens of both objectives' held-out pairs
                out["kl"], out["kl_se"] = r["kl"].double().numpy(), r["kl_se"].double().numpy()
    return out


# ----------------------------------------------------------------------------- one seed
def evaluate_seed(args, seed, runs, timings, notes, block=(0, 1)):
    """Everything for one seed's runs (select_runs) -> {"seed", "prompts", "methods": {name: measured}, "vectors",
    "cosines", "cca", "kl_target"}. seed None: no --seeds given (the runs of seed 0). block: (i, of) with
    --disjoint-seeds, the i-th seed's own slice of the held-out prompts, pairs and rows."""
    a, b = args.maximize, args.minimize
    with timed(timings, "load"):
        base = runs.get("base", args.base)  # study.py gives each seed its own base
        model, tok = models.load_model(base), models.load_tokenizer(base)
        prompts, sets, cca_rows = held_out(args, tok, notes, *block)
        ctx = {"tok": tok, "prompts": prompts, "sets": sets, "chunks": dict(batch_size=args.pair_batch_size,
                                                                             pad_id=tok.pad_token_id),
               "attrs": list(dict.fromkeys([a, b, *args.extra_attrs, "well_formed"]))}
        load = lambda folders: [linearize.TaskVector.load(d, base=model) for d in folders]
    out = {"seed": seed, "prompts": prompts, "methods": {}, "vectors": {}, "cosines": {}, "cca": {}}
    todo = {}  # name -> (kind, taus, lin)
    for name, (mode, kind) in METHODS.items():
        missing = [obj for obj in (a, b) if (mode, obj) not in runs["vectors"]]
        if missing and (name != "TS-DPO (nonlinear)" or args.ablation):
            notes.append(f"{name} not evaluated (seed {seed}): no finished {mode} run of {', '.join(missing)} "
                         f"under {args.runs}")
        elif name != "TS-DPO (nonlinear)" or args.ablation:
            taus = load([runs["vectors"][(mode, obj)] for obj in (a, b)])
            todo[name] = (kind, taus, linearize.linearize_for(model, taus) if kind == "linear" else None)
    two = [n for n in ("TS-DPO", "DPO task arithmetic") if n in todo]  # the ablation's vectors are TS-DPO's
    for name in two:
        out["cosines"][f"{name}: {a} vs {b}"] = todo[name][1][0].cosine(todo[name][1][1])
    for k, obj in enumerate((a, b)) if len(two) == 2 else ():
        out["cosines"][f"{obj}: TS-DPO vs DPO task arithmetic"] = todo[two[0]][1][k].cosine(todo[two[1]][1][k])

    scal, directions, scal_kl = runs["scalarized"], [], []
    if scal:
        labels = [label or f"{a}=1,{b}=0" for _, label, _ in scal]
        m = measure(args, ctx, load([d for _, _, d in scal]), np.eye(len(scal)).tolist(), timings, model=model)
        m["labels"] = [{"weights": lab, "w": w} for (w, _, _), lab in zip(scal, labels)]
        out["methods"]["scalarized DPO"] = m
        directions = [tuple(data.parse_weights(lab).get(x, 0.0) for x in (a, b)) for lab in labels]
        scal_kl = m["kl"]
    else:
        notes.append(f"scalarized DPO not evaluated (seed {seed}): no standard runs with --weights over {a} and {b}; "
                     "no equal-budget comparison")

    # every KL below, kl_scale's included, is the per-token KL on the same pairs: sets["all"]; matched to 1 %
    scale = lambda taus, ds, kls, lin, nl, s0=None: sweeps.kl_scale(
        taus, np.asarray(ds, dtype=float), kls, sets["all"]["pairs"], lin=lin, model=nl, rtol=KL_RTOL, s0=s0,
        **ctx["chunks"])  # many directions (M, 2) on the same pairs: the jvps (or the base forward) once per method
    with timed(timings, "calibrate (KL)"):
        if args.calibrate == "kl":
            kl1 = {name: sweeps.pair_sweep(sets["all"]["pairs"], taus, np.eye(2), lin=lin, model=None if lin else
                                            model, **ctx["chunks"])["kl"].double().numpy()
                   for name, (_, taus, lin) in todo.items()}
            own = [kl for name, kl in kl1.items() if args.kl_target in (None, METHODS[name][0])]  # whose KLs set it
            out["kl_target"] = (args.kl_target if isinstance(args.kl_target, float) else
                                float(np.median(np.concatenate(own))) if own else None)
            if out["kl_target"] is None:
                raise ValueError(f"--kl-target {args.kl_target}: no {args.kl_target} vectors to take the budget from")
        for name, (kind, taus, lin) in todo.items():
            nl = None if lin else model
            # each vector alone: directions (1, 0) and (0, 1) (alpha 0 leaves the other out bit for bit), started at
            # s0 = sqrt(target / KL(1)), where KL ~ c s^2 puts the answer
            scales = (scale(taus, np.eye(2), out["kl_target"], lin, nl,
                            s0=[math.sqrt(out["kl_target"] / kl) if kl > 0 else 1.0 for kl in kl1[name]])
                      if args.calibrate == "kl" else [1.0, 1.0])
            for obj, tau, s, kl in zip((a, b), taus, scales, kl1[name] if args.calibrate == "kl" else (None, None)):
                out["vectors"][f"{name}/{obj}"] = {"norm": tau.norm(), "scale": s, "kl_at_1_raw": kl}
            taus[:] = [s * tau for s, tau in zip(scales, taus)]
            try:
                eq = scale(taus, directions, scal_kl, lin, nl) if directions else []
            except ValueError as e:  # a KL this method cannot reach along some direction: no equal-budget points
                eq = []
                notes.append(f"{name}: no equal-budget points (seed {seed}): {e}")
            todo[name] = (kind, taus, lin, eq)

    for name, (kind, taus, lin, eq) in tqdm(todo.items(), desc="methods", leave=False):
        pts = alpha_points(args, [(s * d[0], s * d[1]) for s, d in zip(eq, directions)])
        m = measure(args, ctx, taus, pts["points"], timings, lin=lin, model=None if lin else model)
        out["methods"][name] = m | pts | {"eq_scales": eq}
        for k, obj in enumerate((a, b)):
            v = out["vectors"][f"{name}/{obj}"]
            if v["kl_at_1_raw"] is None:  # not calibrated: the vector alone at alpha = 1, as measured
                v["kl_at_1_raw"] = float(m["kl"][pts[f"unit_{obj}"][0]])
            if name in two:  # the gap of each trained vector, on the first 16 pairs of each objective
                n, g, ps = sets["all"]["n"], min(16, sets["all"]["n"]), sets["all"]["pairs"]
                with timed(timings, "linearization gap"):
                    gap = sweeps.linearization_gap(model, taus[k], ps[:g] + ps[n:n + g], GAP_ALPHAS, **ctx["chunks"])
                v["gap"] = {f"{x:g}": float(y) for x, y in gap.items()}
        if name in two:
            with timed(timings, "cca"):
                h0 = out.setdefault("h0", pooled_hidden(model, tok, cca_rows))
                shifts = {obj: pooled_hidden(model, tok, cca_rows, tau, linear=(kind == "linear"))
                          for obj, tau in zip((a, b), taus)}
                out["cca"][name] = shift_geometry(args, shifts, h0, cca_rows, 0 if seed is None else seed)
    out.pop("h0", None)
    # the same keys: the alpha = 0 point of every method reproduces these responses
    out["methods"]["base"] = measure(args, ctx, [], [[]], timings, model=model, pairs=False)
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


def kl_target(text):
    """argparse type of --kl-target: a positive per-token KL, or a training mode whose vectors set the budget."""
    return text if text in ("standard", "tangent") else positive(float)(text)


def parse_args(argv=None):
    p = Parser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", default="runs", help="folder of training runs (any names; found by their config.json)")
    p.add_argument("--base", default=None, help="theta0 folder (default: <runs>/base)")
    p.add_argument("--out", default="results", help="results folder")
    p.add_argument("--data", default="toy", help="source of held-out prompts, pairs and rated rows (data.py; "
                                                 "toy:natural: the toy world as ordinary English)")
    p.add_argument("--correlation", type=toyworld.correlation_flag(), default=None,
                   help="toy world only: its helpfulness-verbosity correlation knob (default: the world's own)")
    p.add_argument("--maximize", default="helpfulness", help="objective whose vector gets --alphas-a (x axis)")
    p.add_argument("--minimize", default="verbosity", help="objective whose vector gets --alphas-b (y axis)")
    p.add_argument("--alphas-a", type=numbers, default="0,0.5,1,1.5", help="grid for the maximized objective's vector")
    p.add_argument("--alphas-b", type=numbers, default="-1.5,-1,-0.5,0", help="grid for the minimized one (negative = less), e.g. -1.5,-1,0")
    p.add_argument("--control", type=numbers, default="-1.5,1.5,7", help="1-D sweeps per vector: lo,hi,steps")
    p.add_argument("--calibrate", choices=["none", "kl"], default="none",
                   help="kl: rescale every vector so that alpha = 1 alone spends --kl-target (per-token KL)")
    p.add_argument("--kl-target", type=kl_target, default=None,
                   help="with --calibrate kl: the KL budget of alpha = 1: a number, or standard | tangent (the median "
                        "of that mode's vectors' own); default: the median over all the vectors' own")
    p.add_argument("--scorer", type=scorer_spec, default="toy", help="toy | length | hf:<reward-model> | module:function (your score(prompt, response) -> "
                   "{attribute: number}, for a new attribute), comma-joined (later override)")
    p.add_argument("--bounds", type=numbers, default=None, help="lo,hi of both axes for HV (default toy: 0,4; else from the data)")
    p.add_argument("--n-prompts", type=positive(int), default=64, help="held-out prompts (study: >= 128)")
    p.add_argument("--n-samples", type=positive(int), default=1, help="samples per prompt and point (study: 2)")
    p.add_argument("--max-new-tokens", type=positive(int), default=80, help="enough for the toy world's longest answer (70 tokens)")
    p.add_argument("--top-p", type=in_range(0, 1, float, lo_open=True), default=generate.TOP_P,
                   help="nucleus sampling, in (0, 1] (default generate.TOP_P, the project's sampling default)")
    p.add_argument("--n-pairs", type=positive(int), default=64, help="held-out pairs per objective and set (all, controlled)")
    p.add_argument("--n-cca", type=in_range(3, math.inf, int), default=128, help="held-out rated rows for CCA (>= 3)")
    p.add_argument("--disjoint-seeds", action="store_true", help="each seed its own --n-prompts prompts, --n-pairs "
                   "pairs and --n-cca rows, none shared: 3 seeds see 3x as many held-out items at the same cost")
    p.add_argument("--cca-k", type=positive(int), default=8, help="principal components per side before CCA")
    p.add_argument("--n-perm", type=in_range(100, math.inf, int), default=100,
                   help="permutations of the CCA null (>= 100: its 95th percentile is reported)")
    p.add_argument("--n-boot", type=in_range(2, math.inf, int), default=1000, help="bootstrap resamples per comparison")
    p.add_argument("--max-length", type=in_range(2, math.inf, int), default=128, help="pair truncation (data.tokenize_pair), >= 2")
    p.add_argument("--beta", type=positive(float), default=0.1, help="implicit reward scale (as in training)")
    p.add_argument("--batch-size", type=positive(int), default=512, help="generation rows per batch")
    p.add_argument("--pair-batch-size", type=positive(int), default=64)
    p.add_argument("--gen-seed", type=positive(int, allow_zero=True), default=0, help="sampling seed (the same for every method)")
    p.add_argument("--seeds", type=positive(int, allow_zero=True), nargs="*", default=None,
                   help="evaluate the runs whose config.json seed is each of these, and aggregate (default: seed 0)")
    p.add_argument("--no-ablation", dest="ablation", action="store_false", help="skip tangent vectors in the nonlinear model")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="where a hf: reward model runs")
    args = p.parse_args(argv)
    c = args.control
    if len(c) != 3 or not c[0] < c[1] or c[2] < 2 or c[2] != int(c[2]):
        p.error(f"--control {','.join(f'{v:g}' for v in args.control)}: give lo,hi,steps with lo < hi and a whole "
                f"number of steps >= 2, e.g. -1.5,1.5,7")
    for flag, alphas in (("--alphas-a", args.alphas_a), ("--alphas-b", args.alphas_b)):
        if 0.0 not in alphas:
            p.error(f"{flag} must contain 0 (the single-vector points xi is measured against)")
    if args.bounds is not None and (len(args.bounds) != 2 or not args.bounds[0] < args.bounds[1]):
        p.error("--bounds: give lo,hi with lo < hi, e.g. 0,4")
    if args.maximize == args.minimize:
        p.error(f"--maximize and --minimize are both {args.maximize!r}; give two different objectives")
    try:
        args.toy = data.toy_text(args.data)  # "plain" | "natural" for the toy world, None for any other source
    except ValueError as e:
        p.error(str(e))
    if args.correlation is not None and not args.toy:
        p.error(f"--correlation is a knob of the toy world; --data {args.data} has none")
    if args.kl_target is not None and args.calibrate != "kl":
        p.error("--kl-target sets the budget of --calibrate kl; add --calibrate kl or drop --kl-target")
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
    if not models.base_available(args.base):
        raise ValueError(f"--base {args.base}: no base model there, nor a hub id in the local cache; run base_model.py "
                         f"--out {args.base} or pass --base")
    base_model.check_text_form(args.base, args.data)  # toy text in the base's own form (plain | natural)
    if not Path(args.runs).is_dir():
        raise ValueError(f"--runs {args.runs}: no such folder; train runs first (make demo) or pass --runs")
    found = find_runs(args.runs)  # a corrupt config.json stops here, before any work
    run(args, {s: select_runs(found, 0 if s is None else s, a, b, args.runs) for s in (args.seeds or [None])})


def run(args, runs_of):
    """The experiment on chosen runs: runs_of = {seed: select_runs(...)}, each optionally with its own "base"
    folder (study.py: a seed varies the base too) -> args.out. main() is this after the flags and the run search."""
    a, b = args.maximize, args.minimize
    args.extra_attrs = list(toyworld.ATTRIBUTES) if args.toy else [a, b]
    args.scorer_fn = Scorer(args.scorer, a, args.device, minimize=b)
    fixed = args.bounds is not None or args.scorer == "toy"
    lo_hi = args.bounds or [0.0, 4.0]
    args.bounds, args.ref = (tuple(lo_hi), tuple(lo_hi)), (lo_hi[0], lo_hi[1])  # ref: the worst corner
    t0, timings, notes = time.time(), {}, []
    if args.n_prompts < 128 or args.n_samples < 2:
        notes.append(f"{args.n_prompts} prompts x {args.n_samples} sample(s): below the study setting (>= 128 x 2, "
                     "--n-prompts 128 --n-samples 2), sized for the demo's time budget; the CIs are wider than the study's")
    blocks = len(runs_of) if args.disjoint_seeds else 1
    per_seed = [evaluate_seed(args, s, runs_of[s], timings, notes, (i % blocks, blocks))
                for i, s in enumerate(tqdm(runs_of, desc="seeds", leave=False))]
    if not fixed:  # no stated bounds: the box from the data, said
        allv = [np.nanmean(m["scores"][k], 1) for o in per_seed for m in o["methods"].values() for k in (a, b)]
        lo_hi = [float(np.nanmin(np.concatenate(allv))), float(np.nanmax(np.concatenate(allv)))]
        args.bounds, args.ref = (tuple(lo_hi), tuple(lo_hi)), (lo_hi[0], lo_hi[1])
        notes.append(f"no --bounds: HV box taken from the data, [{lo_hi[0]:.3g}, {lo_hi[1]:.3g}] on both axes "
                     "(numbers compare within this run only)")
    ideal = None
    if args.scorer == "toy" and args.toy:
        every = [p for o in per_seed[:blocks] for p in o["prompts"]]  # each prompt once, --disjoint-seeds or not
        ideal = toyworld.ideal_front(every * args.n_samples, maximize=a, minimize=b, correlation=args.correlation)
    key = lambda s: s if s is not None else "-"
    used = {key(s): {f"{mode}/{obj}": str(d) for (mode, obj), d in r["vectors"].items()}
            | {f"standard/{label or f'{a}=1,{b}=0'}": str(d) for _, label, d in r["scalarized"]} for s, r in runs_of.items()}
    write_results(args, per_seed, ideal, notes, timings, used, t0)


if __name__ == "__main__":
    run_cli(main)
