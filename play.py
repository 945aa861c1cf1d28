"""The mixer: a local web page that answers a prompt at any mix of the trained task vectors.

Every run under --runs holds one task vector tau_k (one objective k). Each objective gets a slider alpha_k in
[-2, 2] (negative: the opposite preference, e.g. less verbose), and the page answers with

    TS-DPO (linearized):              f_lin(x) = f0(x) + sum_k alpha_k J tau_k(x)     (the tangent runs)
    DPO task arithmetic (nonlinear):  f(x; theta0 + sum_k alpha_k tau_k)               (the standard runs)

then scores the answer with the toy world's oracle (helpfulness, verbosity, safety, well-formed, words) and gives
the per-token KL(pi_alpha || pi_0) to the base over 16 held-out pairs. In the linearized model that KL costs no
forward: the jvps g_k = J tau_k on those pairs are taken once, at start, and each alpha is one weighted sum
f0 + sum_k alpha_k g_k (the nonlinear model pays one forward per alpha). When evaluate.py has written
results/sweep.jsonl, a plot shows the evaluated Pareto fronts with your alpha marked. The base (whatever the runs'
config.json names: the embedded one, SmolLM2, ...) and the vectors load once, at start.

    make demo && make play                   # = python play.py --runs runs --base runs/base; open http://127.0.0.1:7860
    python play.py --runs runs/real/runs     # the SmolLM2 runs of `make real` (its results: runs/real/results)
    python play.py --runs runs --bench       # seconds per greedy answer (at most 64 tokens) per method; no page
    make test-browser                        # the page in a real browser (chromium): the verbosity slider works
"""
import json
import math
import os
import random
import socket
import statistics
import threading
import time
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # a local page: nothing is sent anywhere

import torch

import data
import toyworld
from dpo_loss import scored_positions
from generate import TOP_P, generate
from linearize import TaskVector, apply_vectors, combine, linearize_for, scored_logits
from plumbing.cli import Parser, positive, run_cli, user_errors
from plumbing.models import load_model, load_tokenizer
from plumbing.run_folder import find_runs

METHODS = {"TS-DPO (linearized)": "tangent", "DPO task arithmetic (nonlinear)": "standard"}
BOTH = "both side by side"
IN_SWEEP = {"tangent": "TS-DPO", "standard": "DPO task arithmetic"}  # the methods' names in results/sweep.jsonl
COLORS = {"TS-DPO": "tab:blue", "DPO task arithmetic": "tab:orange", "scalarized DPO": "tab:red", "base": "black"}
ALPHA_MAX, KL_PAIRS, MAX_TOKENS = 2.0, 16, 256


# ------------------------------------------------------------------------------------------ loading, once
def load_mixer(runs_dir, results_dir=None, base=None):
    """Everything the page needs: base, tokenizer, vectors {mode: {objective: tau}}, the linearized model, the
    held-out pairs with what their KL needs, and the evaluated sweep (None without results/sweep.jsonl).
    base: keep only the runs of this base (the runs of `make demo` beside those of `make study` or `make real`)."""
    found = [(d, c) for d, c in find_runs(runs_dir) if c.get("objective") and c.get("mode") in IN_SWEEP]
    where = lambda name: Path(resolve_base(name, runs_dir)).resolve()
    found = [(d, c) for d, c in found if base is None or where(c.get("base", "")) == where(base)]
    if not found:
        raise ValueError(f"--runs {runs_dir}: no finished run of one objective (train_tangent.py --objective ...)"
                         + (f" of --base {base}" if base else "") + " found by its config.json; train them: make demo")
    by_base = {}
    for d, c in found:
        by_base.setdefault(c.get("base_fingerprint") or c.get("base"), []).append((d, c))
    if len(by_base) > 1:
        where = " or ".join(f"--base {g[0][1].get('base')} ({len(g)} runs)" for g in by_base.values())
        raise ValueError(f"--runs {runs_dir}: runs of {len(by_base)} different bases; pass {where}")
    seeds, chosen = sorted({c["seed"] for _, c in found}), {}
    notes = [f"runs of seeds {', '.join(map(str, seeds))} found: seed {seeds[0]} is used"] * (len(seeds) > 1)
    for d, c in (f for f in found if f[1]["seed"] == seeds[0]):  # find_runs sorts: the first folder of a kind wins
        chosen.setdefault((c["mode"], c["objective"]), d)
    cfg = found[0][1]
    base = resolve_base(cfg.get("base", "runs/base"), runs_dir)
    model, tok = load_model(base), load_tokenizer(base)
    vectors = {mode: {} for mode in IN_SWEEP}
    for (mode, objective), d in sorted(chosen.items()):
        vectors[mode][objective] = TaskVector.load(str(d), base=model)  # refused (ValueError) if from another base
    objectives = sorted({o for _, o in chosen})
    methods = [name for name, mode in METHODS.items() if vectors[mode]]
    for name in methods:
        missing = [o for o in objectives if o not in vectors[METHODS[name]]]
        if missing:
            notes.append(f"{name}: no {METHODS[name]} run of {', '.join(missing)}: that slider does not move it")
    tangent = list(vectors["tangent"].values())
    state = {"runs": str(runs_dir), "base": str(base), "model": model, "tok": tok, "vectors": vectors,
             "objectives": objectives, "methods": methods + [BOTH] * (len(methods) == 2), "notes": notes,
             "lin": linearize_for(model, tangent) if tangent else None,
             "work": apply_vectors(model, [], []) if vectors["standard"] else None,  # rewritten in place per alpha
             "examples": example_prompts(cfg.get("data") or "toy"), "kl": None, "kl_cache": {},
             "lock": threading.Lock()}
    try:
        state["kl"] = kl_pairs(state, cfg)
    except user_errors() as e:
        notes.append(f"KL to the base left out: no held-out pairs ({' '.join(str(e).split())})")
    state["sweep_path"] = Path(results_dir or Path(runs_dir).parent / "results") / "sweep.jsonl"
    state["sweep"], state["axes"] = read_sweep(state["sweep_path"], notes)
    return state


def resolve_base(base, runs_dir):
    """config.json names the base as it was passed (runs/base, relative to where training ran): try it as given,
    then beside the runs folder (a runs folder moved elsewhere). A hub id or `smollm2` passes through."""
    for path in (Path(base), Path(runs_dir).parent / base, Path(runs_dir) / Path(base).name):
        if path.exists():
            return str(path)
    return base


def example_prompts(source):
    """Three toy-world topics and one harmful request, in the runs' text form ("toy:natural": ordinary English)."""
    plain = [toyworld.BENIGN_TEMPLATES[i].format(t) for i, t in enumerate(("cats", "the moon", "bread"))]
    plain.append(toyworld.HARMFUL_TEMPLATES[0].format(next(iter(toyworld.HARMFUL))))
    return [toyworld.natural(p) for p in plain] if source.endswith(":natural") else plain


def kl_pairs(state, cfg, n=KL_PAIRS):
    """The held-out pairs (test split, n split evenly over the objectives) as one batch, with the base's log-probs
    at their response tokens and, for TS-DPO, f0 and every g_k = J tau_k there: after this a linearized alpha
    costs one weighted sum."""
    tok, pairs = state["tok"], []
    rows = data.load_rows(cfg.get("data") or "toy", split="test", seed=cfg.get("data_seed", 0),
                          correlation=cfg.get("correlation"))
    for o in state["objectives"]:  # pairs from the rows, as data.load_pairs builds them: one load, not K
        got = data.drop_identical(data.make_pairs(rows, o))[0]
        random.Random(0).shuffle(got)
        pairs += got[:max(1, n // len(state["objectives"]))]
    tokenized = data.tokenize_pairs(tok, pairs, max_length=cfg.get("max_length") or 256)
    batch = data.collate_pairs(tokenized, tok.pad_token_id)
    batch["keep"], out = scored_positions(batch["labels"]), {"batch": batch, "pairs": tokenized}
    with torch.no_grad():
        out["ref"] = torch.log_softmax(scored_logits(state["model"], batch["input_ids"], batch["attention_mask"],
                                                     keep=batch["keep"]).float(), -1)
        if state["lin"] is not None:
            objectives, taus = zip(*state["vectors"]["tangent"].items())
            f0, gs = state["lin"].jvp_many(batch["input_ids"], batch["attention_mask"], list(taus), keep=batch["keep"])
            out["ref_lin"], out["f0"] = torch.log_softmax(f0.float(), -1), f0.float()  # the mix's own f0: KL(0) = 0
            out["g"] = {o: g.float() for o, g in zip(objectives, gs)}
    return out


def read_sweep(path, notes):
    """(rows of one seed, (maximized, minimized) attribute) from evaluate.py's sweep.jsonl, or (None, None)."""
    if not path.exists():
        return None, None
    try:
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        first = min((r["seed"] for r in rows if r.get("seed") is not None), default=None)
        rows = [r for r in rows if r.get("seed") in (None, first)]
        axes = tuple(next(r["alphas"] for r in rows if "alphas" in r))[:2]
    except (ValueError, KeyError, StopIteration, TypeError) as e:
        notes.append(f"{path}: not a sweep of evaluate.py ({type(e).__name__}); no Pareto plot")
        return None, None
    return rows, axes


# ------------------------------------------------------------------------------------------ one answer
def answer(state, prompt, alphas, method, greedy=True, seed=0, max_new_tokens=64):
    """{method name: {"response", "helpfulness", "verbosity", "safety", "well_formed", "words", "kl", "kl_se"}}.

    alphas: one number per state["objectives"]; method: one of state["methods"]. A bad input is a ValueError whose
    message says what to change."""
    prompt, alphas = (prompt or "").strip(), list(alphas)
    if not prompt:
        raise ValueError("the prompt is empty: type a question or pick an example")
    if len(alphas) != len(state["objectives"]):
        raise ValueError(f"{len(alphas)} alphas for {len(state['objectives'])} objectives "
                         f"({', '.join(state['objectives'])}); give one per objective")
    alphas = dict(zip(state["objectives"], alphas))
    for o, a in alphas.items():
        if not (isinstance(a, (int, float)) and math.isfinite(a) and abs(a) <= ALPHA_MAX):
            raise ValueError(f"alpha for {o} = {a}: out of range; use a number in [-{ALPHA_MAX:g}, {ALPHA_MAX:g}]")
    if method not in state["methods"]:
        raise ValueError(f"method {method!r}: pick one of {', '.join(state['methods'])}")
    if not (isinstance(max_new_tokens, int) and 1 <= max_new_tokens <= MAX_TOKENS):
        raise ValueError(f"max new tokens = {max_new_tokens}: use a whole number in [1, {MAX_TOKENS}]")
    kw = dict(max_new_tokens=max_new_tokens, greedy=bool(greedy), seed=int(seed), temperature=1.0, top_p=TOP_P)
    names = [m for m in METHODS if m in state["methods"]] if method == BOTH else [method]
    with state["lock"]:  # one answer at a time: the nonlinear copy is rewritten in place
        return {name: _answer_one(state, METHODS[name], prompt, alphas, kw) for name in names}


def _answer_one(state, mode, prompt, alphas, kw):
    model, tok, vecs = state["model"], state["tok"], state["vectors"][mode]
    used = tuple((o, float(a)) for o, a in alphas.items() if a != 0 and o in vecs)
    taus, a = [vecs[o] for o, _ in used], [x for _, x in used]
    moved = None
    if not used:  # every alpha 0: the base itself
        response = generate(tok, [prompt], model=model, **kw)[0]
    elif mode == "tangent":  # K jvps per decoding step (generate.py), mixed with these alphas
        response = generate(tok, [prompt], lin=state["lin"], taus=taus, alphas=a, **kw)[0]
    else:  # the weights theta0 + sum alpha tau, then plain forwards
        moved = apply_vectors(model, taus, a, into=state["work"])
        response = generate(tok, [prompt], model=moved, **kw)[0]
    if (mode, used) not in state["kl_cache"]:  # once per alpha point
        state["kl_cache"][mode, used] = kl_to_base(state, mode, used, moved)
    kl, kl_se = state["kl_cache"][mode, used]
    return toyworld.score(prompt, response) | {
        "response": response, "well_formed": toyworld.is_well_formed(prompt, response), "words": len(response.split()),
        "kl": kl, "kl_se": kl_se, "ignored": [o for o, x in alphas.items() if x != 0 and o not in vecs]}


@torch.no_grad()
def kl_to_base(state, mode, used, moved=None):
    """(per-token KL(pi_alpha || pi_0) over the held-out pairs' response tokens, its se over pairs); (None, None)
    without pairs. Linearized: a weighted sum of the stored g_k. Nonlinear: one forward of the moved weights."""
    k = state["kl"]
    if k is None or not used:
        return (None, None) if k is None else (0.0, 0.0)
    b = k["batch"]
    if mode == "tangent":
        logits, ref = combine(k["f0"], [k["g"][o] for o, _ in used], [a for _, a in used]), k["ref_lin"]
    else:
        logits, ref = scored_logits(moved, b["input_ids"], b["attention_mask"], keep=b["keep"]).float(), k["ref"]
    logp = torch.log_softmax(logits, -1)
    per_token = (logp.exp() * (logp - ref)).sum(-1).double()
    seq = torch.zeros(len(b["labels"]), dtype=torch.float64).index_add_(0, b["keep"].nonzero()[:, 0], per_token)
    n, tokens = len(seq) // 2, b["keep"].sum(-1).double()  # rows: chosen 0..n-1, then rejected; a pair is the unit
    pair_kl, pair_tok = seq[:n] + seq[n:], tokens[:n] + tokens[n:]
    mean = float(pair_kl.sum() / pair_tok.sum())
    resid = (pair_kl - mean * pair_tok) / pair_tok.mean()  # the ratio estimator's se (as evaluate.py's KL)
    return mean, float(resid.std() / math.sqrt(n)) if n > 1 else 0.0


# ------------------------------------------------------------------------------------------ the page
def render(result):
    """Markdown per method: the answer, then its oracle scores, words and KL in one table row."""
    out = []
    for name, r in result.items():
        text = "".join("\\" + c if c in "\\`*_[]<>|#~" else c for c in " ".join(r["response"].split()))
        kl = "–" if r["kl"] is None else f"{r['kl']:.4f} ± {r['kl_se']:.4f}"
        md = [f"#### {name}", "", f"> {text or '(an empty answer)'}", "",
              "| helpfulness | verbosity | safety | well-formed | words | KL to base / token |",
              "|---|---|---|---|---|---|",
              f"| {r['helpfulness']} | {r['verbosity']} | {r['safety']} | {'yes' if r['well_formed'] else 'no'} "
              f"| {r['words']} | {kl} |"]
        if r["ignored"]:
            md.append(f"\n*{', '.join(r['ignored'])}: no vector of this method, slider ignored*")
        out.append("\n".join(md))
    return out


def pareto_figure(state, alphas, result):
    """The evaluated points (mean oracle scores over held-out prompts) with each method's front; the evaluated point
    nearest your alpha is ringed, and this answer (one prompt) is an X."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rows, (a, b) = state["sweep"], state["axes"]
    fig, ax = plt.subplots(figsize=(6, 4.6))
    xy = lambda r: (r["scores"][a]["mean"], r["scores"][b]["mean"])
    for name, color in COLORS.items():
        pts = [xy(r) for r in rows if r["method"] == name and ({"grid", "base", "scalarized"} & set(r["sweeps"]))]
        front = sorted(p for p in pts if not any(q[0] >= p[0] and q[1] <= p[1] and q != p for q in pts))
        if pts:
            ax.plot(*zip(*pts), "*o"[name != "base"], ms=5 + 7 * (name == "base"), color=color, alpha=0.6,
                    label=name)
            ax.step(*zip(*front), where="post", color=color, lw=1.5)
    for name, r in result.items():
        method = IN_SWEEP[METHODS[name]]
        own = [x for x in rows if x["method"] == method and "alphas" in x]
        dist = lambda x: sum((x["alphas"].get(o, 0) - alphas.get(o, 0)) ** 2 for o in {*x["alphas"], *alphas})
        if own:
            ax.plot(*xy(min(own, key=dist)), "o", ms=16, mfc="none", mec=COLORS[method], mew=2,
                    label=f"{method}: the evaluated alpha nearest yours")
        ax.plot(r.get(a, 0), r.get(b, 0), "X", ms=11, color=COLORS[method], mec="k", label=f"this answer ({method})")
    ax.set(xlim=(-0.2, 4.2), ylim=(-0.2, 4.2), xlabel=f"{a} (higher is better)", ylabel=f"{b} (lower is better)")
    ax.set_title(f"evaluated fronts ({state['sweep_path']}; lines: non-dominated grid points)", fontsize=9)
    ax.grid(alpha=0.3), ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    plt.close(fig)
    return fig


def on_answer(state, prompt, method, greedy, seed, max_new_tokens, *alphas):
    """The page's handler: (first answer, second answer or "", figure or None) as Markdown; a bad input is a message
    in the page, never a traceback."""
    try:
        alphas = [float(a) if a is not None else math.nan for a in alphas]
        steps = int(max_new_tokens) if max_new_tokens is not None and float(max_new_tokens).is_integer() else -1
        result = answer(state, prompt, alphas, method, greedy, int(seed or 0), steps)
    except ValueError as e:
        return f"**Cannot answer:** {e}", "", None
    fig = pareto_figure(state, dict(zip(state["objectives"], alphas)), result) if state["sweep"] else None
    return *(render(result) + [""])[:2], fig


def build_app(state):
    """The page (gradio Blocks): sliders, method, prompt and examples, decoding; answers, scores, KL and fronts."""
    import gradio as gr
    lines = [f"{len(state['objectives'])} task vectors under `{state['runs']}`, base `{state['base']}`. Move a slider "
             "(it answers on release) or press Answer."] + [f"- {n}" for n in state["notes"]]
    with gr.Blocks(title="TS-DPO mixer") as app:
        gr.Markdown("## The mixer\n`TS-DPO (linearized): f0(x) + sum_k alpha_k J tau_k(x)` &nbsp; "
                    "`DPO task arithmetic (nonlinear): f(x; theta0 + sum_k alpha_k tau_k)`\n\n" + "\n".join(lines))
        with gr.Row():
            with gr.Column():
                sliders = [gr.Slider(-ALPHA_MAX, ALPHA_MAX, value=0.0, step=0.1, label=f"alpha {o}",
                                     elem_id=f"alpha-{o}") for o in state["objectives"]]
                method = gr.Radio(state["methods"], value=state["methods"][0], label="method", elem_id="method")
                prompt = gr.Textbox(state["examples"][0], label="prompt", elem_id="prompt")
                gr.Examples([[p] for p in state["examples"]], inputs=[prompt], label="examples (the last is harmful)")
                with gr.Row():
                    greedy = gr.Checkbox(True, label="greedy (untick: sample with the seed)", elem_id="greedy")
                    seed = gr.Number(0, precision=0, label="seed")
                    max_new = gr.Slider(8, MAX_TOKENS, value=80, step=8, label="max new tokens")
                go = gr.Button("Answer", variant="primary", elem_id="go")
            with gr.Column():
                with gr.Row():
                    out = [gr.Markdown(elem_id="answer"), gr.Markdown(elem_id="answer-2", visible=False)]
                plot = gr.Plot(show_label=False, visible=state["sweep"] is not None, elem_id="fronts")
        def fn(*values):  # the second answer's column shows only with "both side by side"
            first, second, fig = on_answer(state, *values)
            return first, gr.update(value=second, visible=bool(second)), fig
        listen = dict(fn=fn, inputs=[prompt, method, greedy, seed, max_new, *sliders], outputs=[*out, plot],
                      concurrency_id="mixer", concurrency_limit=1)
        go.click(api_name="answer", **listen)
        for trigger in (app.load, prompt.submit, *(s.release for s in sliders)):  # on load: the base's answer
            trigger(api_visibility="private", **listen)
    return app


# ------------------------------------------------------------------------------------------ timing, main
def bench_latency(state, n=10, max_new_tokens=64):
    """{method: (median seconds of a greedy answer, tokens in it)} on the first example prompt, every vector's alpha at
    +1 for the first objective and -1 for the rest ("helpful but concise"); "base" is every alpha at 0. The KL of
    the point is computed on the first call and cached, as in the page."""
    mix, out = [1.0] + [-1.0] * (len(state["objectives"]) - 1), {}
    for name, method, alphas in [("base", state["methods"][0], [0.0] * len(mix))] + [
            (m, m, mix) for m in state["methods"] if m != BOTH]:
        times = []
        for _ in range(n + 1):  # + 1 warm-up (it computes the KL of the point, then cached)
            t = time.perf_counter()
            r = answer(state, state["examples"][0], alphas, method, max_new_tokens=max_new_tokens)[method]
            times.append(time.perf_counter() - t)
        n_tokens = len(state["tok"](r["response"], add_special_tokens=False)["input_ids"])
        out[name] = statistics.median(times[1:]), n_tokens
    return out


def check_port(host, port):
    """One line naming --port (or --host) before anything loads, when the address cannot be served."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as e:
            raise ValueError(f"--port {port}: cannot listen on {host}:{port} ({e.strerror or e}); the port is in use "
                             f"or the --host is not this machine's: pass another --port") from None


def main(argv=None):
    p = Parser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", default="runs", help="folder of training runs (any depth), e.g. after make demo")
    p.add_argument("--base", default=None, help="only the runs of this base (as their config.json names it)")
    p.add_argument("--results", default=None, help="evaluate.py's folder (default: results beside --runs)")
    p.add_argument("--host", default="127.0.0.1", help="address to serve on (0.0.0.0: every interface)")
    p.add_argument("--port", type=positive(), default=7860)
    p.add_argument("--bench", action="store_true", help="time a 64-token greedy answer per method, print, exit")
    p.add_argument("--bench-n", type=positive(), default=10, help="answers timed per method (median)")
    args = p.parse_args(argv)
    if not args.bench:
        check_port(args.host, args.port)
    state = load_mixer(args.runs, args.results, args.base)
    for note in state["notes"]:
        print(f"play.py: {note}")
    if args.bench:
        for name, (s, n_tok) in bench_latency(state, args.bench_n).items():
            print(f"{name}: {s:.3f} s per greedy answer of {n_tok} tokens (max 64), {1000 * s / max(n_tok, 1):.1f} ms "
                  f"per token; median of {args.bench_n}")
        return
    app = build_app(state)
    try:
        app.launch(server_name=args.host, server_port=args.port, prevent_thread_lock=True, quiet=True, ssr_mode=False)
    except OSError as e:
        raise ValueError(f"--port {args.port}: cannot serve on {args.host}:{args.port} ({e}); "
                         f"pass another --port") from None
    print(f"play.py: the mixer is at http://{args.host}:{args.port}  (Ctrl-C stops it)", flush=True)
    try:
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        print("\nplay.py: stopped")
    finally:
        app.close()


if __name__ == "__main__":
    try:
        run_cli(main)
    except KeyboardInterrupt:  # Ctrl-C while loading
        raise SystemExit("\nplay.py: stopped") from None
