"""What TS-DPO costs, measured side by side in one process on the same model, tokens and batch (issue 14).

    1. one training step (forward + backward + AdamW), the median of --repeats rounds after --warmup. The methods
       take turns inside every round (interleaved), so a machine that slows down slows them all alike:
         TS-DPO                 one jvp gives the reference f0 and J tau; backward through the jvp
         DPO, ref recomputed    policy forward + a reference forward
         DPO, ref precomputed   policy forward only (reference log-probs cached before training)
         TRL DPOTrainer, ref recomputed / precomputed: when `trl` is importable, its own step (training_step, then
                                the optimizer) on a copy of the same model with the same tokens, trainable tensors
                                and AdamW; gradient checkpointing and bf16 off
       Every path scores logits only at response positions (TRL's fused head does too). Memory: peak allocated on
       CUDA; on CPU (no allocator statistics) the bytes autograd saves for backward plus the trainable state
       (tau or theta, its gradient, AdamW's two moments).
    2. an alpha sweep of 21 points on held-out pairs: the linearity trick (K jvps, then f0 + sum_k alpha_k J tau_k
       per point) vs one linearized forward per alpha.
    3. generation for 11 alpha points: one batched linearized generation vs one alpha at a time.
    4. what mixing costs at inference (issue 22), each pair measured in the same run:
         a mixed token, linearized (f0 + sum_k alpha_k J tau_k) vs merged (theta0 + sum_k alpha_k tau_k), K = 1, 2, 3,
                                greedy, every row decoding --new-tokens tokens, one slider setting (one tangent along
                                the mix); K = 3 with each row its own alphas; K = 2 with every weight linearized
         the alpha sweep's K jvps: one shared primal (jvp_many) vs one whole jvp per vector
         a DPO step with the reference recomputed: the frozen trunk once (linearize.Trunk) vs every block twice
         a nonlinear pair sweep (5 alpha points, KL included): the trunk once per batch vs every block per point

Ratios are the point (both sides measured here and now); absolute times depend on the machine. Issue 14's goals
are printed as measured / goal; `--goals auto` picks SmolLM2's for a model of SmolLM2-135M's shape, else the
embedded base's.

    python -m lab.bench                       # CPU, the embedded base (a random model of its shape if runs/base is missing)
    python -m lab.bench --base smollm2 --linearize "model\\.layers\\.(28|29)\\." --out results/bench-smollm2.json
    .venv/bin/pip install --no-deps trl==1.16.0 accelerate psutil   # optional: the TRL comparison
Writes results/bench.json (every ratio; null where a part was skipped).
"""
import copy
import math
import os
import platform
import shutil
import statistics
import tempfile
import time
import warnings

import torch

import data
from measure.sweeps import pair_sweep, sweep_logps
from dpo_loss import preference_loss, scored_positions, sequence_logps
from generate import generate, generate_sweep
from linearize import LinearizedModel, TaskVector, Trunk, apply_vectors, freeze, scored_logits, select_parameters
from plumbing.models import load_model, load_tokenizer
from plumbing.cli import Parser, in_range, positive, run_cli
from plumbing.run_folder import read_json, write_json
from train_tangent import make_policy, policy_logps

# issues 14 and 22: ratio -> (direction, bound) per goal set; the other ratios are reported without a goal
GOALS = {"embedded": {"ts_vs_dpo_recomputed": ("<=", 1.3), "ts_vs_trl_recomputed": ("<=", 1.0),
                      "sweep_speedup": (">=", 10.0), "generation_speedup": (">=", 5.0)},
         "smollm2": {"ts_vs_dpo_recomputed": ("<=", 0.9), "ts_vs_trl_recomputed": ("<=", 0.6),
                     "sweep_speedup": (">=", 10.0), "generation_speedup": (">=", 5.0),
                     "mixed_token_k2_vs_merged": ("<=", 1.3), "dpo_step_trunk_vs_full": ("<=", 0.6),
                     "pair_sweep_trunk_speedup": (">=", 3.0)}}
RATIOS = {  # name -> (numerator, denominator) step times, or a speedup of part 2 / 3
    "ts_vs_dpo_recomputed": ("ts_dpo", "dpo_ref_recomputed"), "ts_vs_dpo_precomputed": ("ts_dpo", "dpo_ref_precomputed"),
    "ts_vs_trl_recomputed": ("ts_dpo", "trl_ref_recomputed"), "ts_vs_trl_precomputed": ("ts_dpo", "trl_ref_precomputed"),
    "dpo_vs_trl_recomputed": ("dpo_ref_recomputed", "trl_ref_recomputed"),
    "dpo_vs_trl_precomputed": ("dpo_ref_precomputed", "trl_ref_precomputed"),
    "ts_memory_vs_dpo": None, "sweep_speedup": None, "generation_speedup": None,
    "dpo_step_trunk_vs_full": ("dpo_ref_recomputed", "dpo_ref_recomputed_no_trunk"),
    "sweep_shared_primal_speedup": None, "mixed_token_k1_vs_merged": None, "mixed_token_k2_vs_merged": None,
    "mixed_token_k3_vs_merged": None, "mixed_token_k3_row_alphas_vs_merged": None,
    "mixed_token_k2_all_weights_vs_merged": None, "pair_sweep_trunk_speedup": None}
DEFAULT_BASE = "runs/base"  # made by base_model.py
TRL_INSTALL = ".venv/bin/pip install --no-deps trl==1.16.0 accelerate psutil"


def sync(device):
    if device == "cuda":
        torch.cuda.synchronize()


def timed(fn, device, warmup, repeats):
    """Median wall time of fn() in seconds."""
    return interleaved({"fn": fn}, device, warmup, repeats)["fn"]


def interleaved(steps, device, warmup, repeats):
    """{name: median seconds}: every round runs each step once, in turn; the first `warmup` rounds are not timed."""
    times = {name: [] for name in steps}
    for r in range(warmup + repeats):
        for name, fn in steps.items():
            sync(device)
            t = time.perf_counter()
            fn()
            sync(device)
            if r >= warmup:
                times[name].append(time.perf_counter() - t)
    return {name: statistics.median(t) for name, t in times.items()}


class SavedBytes:
    """Bytes autograd keeps for backward (each storage once, the frozen weights excluded)."""

    def __init__(self, exclude):
        self.exclude, self.seen = {p.untyped_storage().data_ptr() for p in exclude}, {}

    def pack(self, t):
        ptr = t.untyped_storage().data_ptr()
        if ptr not in self.exclude:
            self.seen[ptr] = t.untyped_storage().nbytes()
        return t

    def __enter__(self):
        self.ctx = torch.autograd.graph.saved_tensors_hooks(self.pack, lambda t: t)
        self.ctx.__enter__()
        return self

    def __exit__(self, *exc):
        self.ctx.__exit__(*exc)

    @property
    def total(self):
        return sum(self.seen.values())


def memory_mb(step, trainable, frozen, device):
    """Peak memory of one step beyond the weights (see the docstring), in MiB."""
    state = 4 * sum(p.numel() * p.element_size() for p in trainable)  # param, grad, exp_avg, exp_avg_sq
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        step()
        return (torch.cuda.max_memory_allocated() - base + state) / 2**20
    with SavedBytes(frozen) as saved:
        step()
    return (saved.total + state) / 2**20


def repo_steps(model, batch, ref_logps, linearize):
    """{name: (step, trainable, frozen)} for TS-DPO and DPO with the reference recomputed or precomputed."""
    out = {}
    for name, mode, ref in (("ts_dpo", "tangent", None), ("dpo_ref_recomputed", "standard", None),
                            ("dpo_ref_precomputed", "standard", ref_logps)):
        policy = make_policy(mode, model, linearize)
        trainable = [p for p in policy.parameters() if p.requires_grad]
        opt = torch.optim.AdamW(trainable, lr=1e-6)

        def step(policy=policy, opt=opt, ref=ref):  # exactly train_tangent's step
            pi_c, pi_r, ref_c, ref_r = policy_logps(policy, batch, ref)
            preference_loss(pi_c, pi_r, ref_c, ref_r, beta=0.1)[0].mean().backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
        out[name] = step, trainable, list(model.parameters())
    out["dpo_ref_recomputed_no_trunk"] = (without_trunk(out["dpo_ref_recomputed"][0]),) + out["dpo_ref_recomputed"][1:]
    return out


def without_trunk(fn):
    """fn run the old way: every block for every model (linearize.Trunk off), for a with/without ratio."""
    def run():
        Trunk.share = False
        try:
            return fn()
        finally:
            Trunk.share = True
    return run


def trl_steps(model, tokenizer, batch, ref_logps, tokenized, args):
    """({name: (step, trainable, frozen)}, None) for TRL's DPOTrainer with the reference recomputed and precomputed,
    or ({}, why) when trl cannot be imported. Each trainer gets its own copy of the model: TRL patches its forward."""
    try:
        from trl import DPOConfig, DPOTrainer  # optional, not in requirements.txt: imported only here
        import datasets
        import transformers
    except ImportError as e:
        return {}, f"trl is not importable ({e}); to compare: {TRL_INSTALL}"
    transformers.logging.set_verbosity_error(), datasets.disable_progress_bars()
    warnings.filterwarnings("ignore", category=FutureWarning)  # TRL 1.16 on transformers 5: deprecation notes
    moving = set(select_parameters(model, args.linearize))
    n = batch["input_ids"].shape[0] // 2
    inputs = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"],
              "completion_mask": (batch["labels"] != -100).long()}  # the same tokens: TRL's labels = ours
    text = lambda ids: tokenizer.decode(ids, skip_special_tokens=False)  # TRL tokenizes its train set itself
    rows = datasets.Dataset.from_list([{"prompt": text(t["prompt_ids"]), "chosen": text(t["chosen_ids"]),
                                        "rejected": text(t["rejected_ids"])} for t in tokenized])
    out, tmp = {}, tempfile.mkdtemp(prefix="bench-trl-")
    for name, precompute in (("trl_ref_recomputed", False), ("trl_ref_precomputed", True)):
        policy = copy.deepcopy(model)
        for p_name, p in policy.named_parameters():
            p.requires_grad_(p_name in moving)
        trainable = [p for p in policy.parameters() if p.requires_grad]
        ref = None if precompute else freeze(copy.deepcopy(model))
        opt = torch.optim.AdamW(trainable, lr=1e-6)
        cfg = DPOConfig(output_dir=tmp, per_device_train_batch_size=n, beta=0.1, max_length=args.max_length,
                        gradient_checkpointing=False, bf16=False, precompute_ref_log_probs=precompute,
                        use_cpu=args.device == "cpu", report_to="none", save_strategy="no", seed=0,
                        dataloader_num_workers=0, disable_tqdm=True)
        trainer = DPOTrainer(policy, ref_model=ref, args=cfg, train_dataset=rows, processing_class=tokenizer,
                             optimizers=(opt, None))
        trainer.current_gradient_accumulation_steps = 1  # what Trainer.train sets for one micro-batch per step
        x = {**inputs, "ref_chosen_logps": ref_logps[:n], "ref_rejected_logps": ref_logps[n:]} if precompute else inputs

        def step(trainer=trainer, x=x, opt=opt):
            trainer.training_step(trainer.model, dict(x))
            opt.step()
            opt.zero_grad(set_to_none=True)
        out[name] = step, trainable, [] if ref is None else list(ref.parameters())
    shutil.rmtree(tmp, ignore_errors=True)  # the trainers' output_dir: nothing is saved there
    return out, None


def bench_training(model, tokenizer, batch, tokenized, args):
    """Step time, tokens/s and memory of every method, timed in interleaved rounds; and why TRL was skipped."""
    tokens = int(batch["attention_mask"].sum())
    with torch.no_grad():
        keep = scored_positions(batch["labels"])
        ref = sequence_logps(scored_logits(model, batch["input_ids"], batch["attention_mask"], keep),
                             batch["labels"])  # (2B,) log pi_0, as --precompute-ref caches it
    n = len(ref) // 2
    methods = repo_steps(model, batch, torch.stack([ref[:n], ref[n:]], 1), args.linearize)
    trl, skipped = trl_steps(model, tokenizer, batch, ref, tokenized, args)
    methods.update(trl)
    seconds = interleaved({k: m[0] for k, m in methods.items()}, args.device, args.warmup, args.repeats)
    out = {}
    for name, (step, trainable, frozen) in methods.items():
        mb = memory_mb(step, trainable, frozen, args.device)
        out[name] = {"step_s": seconds[name], "tokens_per_s": tokens / seconds[name], "memory_mb": mb}
        print(f"  {name:22s} {seconds[name] * 1e3:8.1f} ms/step  {tokens / seconds[name]:9.0f} tok/s  {mb:8.1f} MB")
    if skipped:
        print(f"  TRL skipped: {skipped}")
    return out, skipped


def bench_sweep(lin, batch, taus, args):
    """21 alpha points on one batch of held-out pairs: the linearity trick vs one linearized forward per alpha
    (both on logits at the scored positions only, so the ratio is the trick's alone)."""
    alphas = torch.stack([torch.linspace(-2, 2, 21), torch.linspace(2, -2, 21)], dim=1)
    ids, mask, labels = batch["input_ids"], batch["attention_mask"], batch["labels"]
    keep = scored_positions(labels)

    @torch.no_grad()
    def per_alpha():
        return torch.stack([sequence_logps(lin(ids, mask, tau=sum(float(a) * t for a, t in zip(point, taus)),
                                               keep=keep)[1], labels) for point in alphas])

    trick = lambda: sweep_logps(lin, batch, taus, alphas)[1]
    err = float((trick() - per_alpha()).abs().max())
    t_trick = timed(trick, args.device, 1, args.repeats)
    t_naive = timed(per_alpha, args.device, 1, max(1, args.repeats // 2))
    print(f"  trick {t_trick * 1e3:.0f} ms, per alpha {t_naive * 1e3:.0f} ms: {t_naive / t_trick:.1f}x "
          f"(max |logp difference| {err:.1e})")
    jvps = {"shared": lambda: lin.jvp_many(ids, mask, taus, keep=keep),
            "separate": lambda: [lin.jvp_many(ids, mask, [tau], keep=keep) for tau in taus]}  # the primal K times
    t = torch.no_grad()(lambda: interleaved(jvps, args.device, 1, args.repeats))()
    print(f"  its {len(taus)} jvps: one shared primal {t['shared'] * 1e3:.0f} ms, one jvp per vector "
          f"{t['separate'] * 1e3:.0f} ms: {t['separate'] / t['shared']:.2f}x")
    return {"points": len(alphas), "trick_s": t_trick, "per_alpha_s": t_naive, "speedup": t_naive / t_trick,
            "max_abs_logp_diff": err, "jvps_shared_s": t["shared"], "jvps_separate_s": t["separate"],
            "shared_primal_speedup": t["separate"] / t["shared"]}


def bench_mixing(model, tokenizer, prompts, args):
    """Seconds per generated token: the linearized model vs the merged model (one plain forward), at alpha = 0.5 per
    vector for every row (one slider setting: one tangent along the mix, whatever K), K = 1, 2, 3 (--linearize);
    K = 3 with each row its own alphas (one primal + 3 tangents, mixed in hidden space); K = 2 with every weight
    linearized. Greedy, batch = the prompts, each row decoding exactly --new-tokens tokens; one timed round (a round
    is prompts x tokens decoding steps, long enough to settle)."""
    g = torch.Generator().manual_seed(2)
    kw = dict(greedy=True, max_new_tokens=args.new_tokens, batch_size=len(prompts), stop_at_eos=False)
    tokens = len(prompts) * args.new_tokens
    out = {}
    runs = [("k1", 1, args.linearize), ("k2", 2, args.linearize), ("k3", 3, args.linearize),
            ("k3_row_alphas", 3, args.linearize),
            ("k2_all_weights", 2, None)]  # the last: the same as k2 when --linearize is not given
    for name, k, which in runs:
        lin = LinearizedModel(model, which)
        taus = [TaskVector({n: 1e-2 * torch.randn(t.shape, generator=g).to(t.device, t.dtype)
                            for n, t in lin.theta0.items()}) for _ in range(k)]
        merged = apply_vectors(model, taus, [0.5] * k)
        alphas = torch.full((len(prompts), k), 0.5)
        if name == "k3_row_alphas":  # rows differ in a vector the merged model leaves at 0.5: same merged arithmetic
            alphas[:, 0] += 1e-3 * torch.arange(len(prompts))
        t = interleaved({"linearized": lambda: generate(tokenizer, prompts, lin=lin, taus=taus, alphas=alphas, **kw),
                         "merged": lambda: generate(tokenizer, prompts, model=merged, **kw)}, args.device, 0, 1)
        out[name] = {"linearized_ms_per_token": 1e3 * t["linearized"] / tokens,
                     "merged_ms_per_token": 1e3 * t["merged"] / tokens, "ratio": t["linearized"] / t["merged"]}
        what = {"k2_all_weights": " (every weight linearized)", "k3_row_alphas": " (each row its own alphas)"}
        print(f"  K = {k}{what.get(name, '')}: linearized "
              f"{out[name]['linearized_ms_per_token']:.2f} ms/token, merged {out[name]['merged_ms_per_token']:.2f}: "
              f"{out[name]['ratio']:.2f}x")
        del lin, merged
    return out


def bench_nonlinear_sweep(model, batch, taus, args):
    """pair_sweep in the nonlinear model at 5 alpha points (KL included): the frozen trunk once per batch vs every
    block at every point; and the largest difference of their margins."""
    alphas = torch.stack([torch.linspace(-1, 1, 5), torch.zeros(5)], dim=1)
    got = {}  # each side's last result: the margins are compared without running either again
    run = lambda name: lambda: got.__setitem__(name, pair_sweep(batch, taus, alphas, model=model))
    t = interleaved({"trunk": run("trunk"), "every_block": without_trunk(run("every_block"))}, args.device, 0, 1)
    err = float((got["trunk"]["margins"] - got["every_block"]["margins"]).abs().max())
    print(f"  trunk once {t['trunk']:.2f} s, every block per point {t['every_block']:.2f} s: "
          f"{t['every_block'] / t['trunk']:.2f}x (max |margin difference| {err:.1e})")
    return {"points": len(alphas), "trunk_s": t["trunk"], "every_block_s": t["every_block"],
            "speedup": t["every_block"] / t["trunk"], "max_abs_margin_diff": err}


def bench_generation(lin, tokenizer, prompts, taus, args):
    """11 alpha points x prompts, greedy: one batched linearized generation vs one alpha at a time."""
    points = torch.stack([torch.linspace(0, 2, 11), torch.linspace(0, -2, 11)], dim=1)
    kw = dict(greedy=True, max_new_tokens=args.new_tokens, batch_size=len(prompts) * len(points))
    batched = lambda: generate_sweep(tokenizer, prompts, points, lin=lin, taus=taus, **kw)
    one_by_one = lambda: [generate(tokenizer, prompts, lin=lin, taus=taus, alphas=p, **kw) for p in points]
    same = batched() == one_by_one()
    t_batched = timed(batched, args.device, 0, 1)
    t_loop = timed(one_by_one, args.device, 0, 1)
    print(f"  batched {t_batched:.2f} s, one alpha at a time {t_loop:.2f} s: {t_loop / t_batched:.1f}x "
          f"(same greedy text: {same})")
    return {"points": len(points), "prompts": len(prompts), "batched_s": t_batched, "per_alpha_s": t_loop,
            "speedup": t_loop / t_batched, "identical_greedy_outputs": same}


def load_base(args):
    """--base; when the default base folder is missing, a random model of the embedded base's shape (speed only)."""
    dtype = torch.bfloat16 if args.dtype == "bf16" else torch.float32
    if args.base != DEFAULT_BASE or os.path.isdir(args.base):
        return load_model(args.base, args.device, dtype), load_tokenizer(args.base), args.base
    import base_model
    import toyworld
    print(f"{args.base} not found: timing a random model of the embedded base's shape")
    tokenizer = base_model.train_tokenizer(toyworld.corpus(500, seed=0))
    model = base_model.build_model(len(tokenizer), eos_id=tokenizer.eos_token_id).to(args.device, dtype).eval()
    model.config.use_cache = False
    return model, tokenizer, "random (embedded shape)"


def goal_set(model, choice):
    """'smollm2' for a model of SmolLM2-135M's shape (30 layers, d=576, vocab 49152) under --goals auto."""
    if choice != "auto":
        return choice
    c = model.config
    shape = (getattr(c, "num_hidden_layers", None), getattr(c, "hidden_size", None), getattr(c, "vocab_size", None))
    return "smollm2" if shape == (30, 576, 49152) else "embedded"


def ratios_of(train, sweep, gen, mixing, nonlinear):
    """Every ratio of RATIOS and of issue 22's parts; None where a side was not measured (TRL skipped)."""
    out = {}
    for key, sides in RATIOS.items():
        if sides is not None:
            num, den = (train.get(s) for s in sides)
            out[key] = num["step_s"] / den["step_s"] if num and den else None
    out["ts_memory_vs_dpo"] = train["ts_dpo"]["memory_mb"] / train["dpo_ref_recomputed"]["memory_mb"]
    out["sweep_speedup"], out["generation_speedup"] = sweep["speedup"], gen["speedup"]
    out["sweep_shared_primal_speedup"] = sweep["shared_primal_speedup"]
    out.update({f"mixed_token_{k}_vs_merged": v["ratio"] for k, v in mixing.items()})
    out["pair_sweep_trunk_speedup"] = nonlinear["speedup"]
    return out


def print_ratios(ratios, goals, which, skipped):
    """One line per ratio: measured / goal and met / MISSED, or why it was not measured."""
    print(f"\nratio (goals of issues 14 and 22 for the {which} base)   measured / goal")
    for key, v in ratios.items():
        op, bound = goals.get(key, (None, None))
        goal = f"{op} {bound:g}x" if op else "(no goal)"
        if v is None:
            print(f"  {key:26s}  skipped / {goal}: {skipped}")
            continue
        verdict = "" if not op else "  met" if (v <= bound if op == "<=" else v >= bound) else "  MISSED"
        print(f"  {key:26s} {v:7.2f}x / {goal}{verdict}")


def parse_args(argv=None):
    p = Parser(description=__doc__.split("\n\n")[0])
    p.add_argument("--base", default=DEFAULT_BASE, help="HF folder or hub id")
    p.add_argument("--data", default="toy", help="pair source (data.py)")
    p.add_argument("--objective", default="helpfulness")
    p.add_argument("--batch-size", type=positive(), default=8, help="pairs per training step")
    p.add_argument("--max-length", type=in_range(2, math.inf, int), default=96, help="tokens per sequence (>= 2)")
    p.add_argument("--linearize", default=None, help="regex of parameters that move (default: all)")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--dtype", default="fp32", choices=["fp32", "bf16"])
    p.add_argument("--warmup", type=positive(allow_zero=True), default=2, help="untimed rounds first")
    p.add_argument("--repeats", type=positive(), default=7, help="timed rounds (median)")
    p.add_argument("--prompts", type=positive(), default=8, help="prompts per alpha point in the generation benchmark")
    p.add_argument("--new-tokens", type=positive(), default=32)
    p.add_argument("--threads", type=positive(), default=min(os.cpu_count() or 1, 2),
                   help="CPU threads (on a machine others load, 1 can be many times faster than 2)")
    p.add_argument("--goals", default="auto", choices=["auto", *GOALS], help="whose goals apply (auto: by shape)")
    p.add_argument("--out", default="results/bench.json")
    args = p.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        p.error("--device cuda: no CUDA device visible; use --device cpu")
    if os.path.isdir(args.out):
        p.error(f"--out {args.out}: is a folder; give a .json file path")
    return args


def main(argv=None):
    args = parse_args(argv)
    if os.path.exists(args.out) and "ratios" not in read_json(args.out, fix="delete it or pass another --out"):
        raise ValueError(f"--out {args.out}: exists and is not a bench.json of ours; pass another --out")
    memo, Trunk.MEMO = Trunk.MEMO, 0  # every timed call pays its trunk, as a new batch does (the rounds repeat one batch)
    try:
        run(args)
    finally:
        Trunk.MEMO = memo


def run(args):
    torch.manual_seed(0)
    if args.device == "cpu":
        torch.set_num_threads(args.threads)
    model, tokenizer, base_name = load_base(args)
    select_parameters(model, args.linearize)  # a regex that matches nothing: one line before any work
    pairs = data.load_pairs(args.data, objective=args.objective, split="test", limit=2000)
    if len(pairs) < 4 * args.batch_size:
        raise ValueError(f"--data {args.data}: {len(pairs)} test pairs, the bench needs 4 x --batch-size "
                         f"({4 * args.batch_size}); lower --batch-size")
    tokenized = data.tokenize_pairs(tokenizer, pairs[:4 * args.batch_size], max_length=args.max_length)
    pad = tokenizer.pad_token_id
    to_dev = lambda b: {k: v.to(args.device) for k, v in b.items()}
    batch = to_dev(data.collate_pairs(tokenized[:args.batch_size], pad))
    sweep_batch = to_dev(data.collate_pairs(tokenized, pad))
    which = goal_set(model, args.goals)
    print(f"base {base_name}: {sum(p.numel() for p in model.parameters()):,} parameters, {args.device} {args.dtype}, "
          f"{torch.get_num_threads()} threads; batch {args.batch_size} pairs x {batch['input_ids'].shape[1]} tokens, "
          f"{int((batch['labels'] != -100).sum())} of them scored; goals: {which}")

    print("training step (forward + backward + AdamW), interleaved rounds:")
    train, skipped = bench_training(model, tokenizer, batch, tokenized[:args.batch_size], args)
    lin = LinearizedModel(model, args.linearize)
    g = torch.Generator().manual_seed(1)
    taus = [TaskVector({n: 1e-2 * torch.randn(t.shape, generator=g).to(t.device, t.dtype) for n, t in lin.theta0.items()})
            for _ in range(2)]
    print(f"alpha sweep on {len(tokenized)} held-out pairs:")
    sweep = bench_sweep(lin, sweep_batch, taus, args)
    print(f"generation, {args.prompts} prompts, {args.new_tokens} new tokens:")
    prompts = list(dict.fromkeys(pr["prompt"] for pr in pairs))[:args.prompts]
    gen = bench_generation(lin, tokenizer, prompts, taus, args)
    print(f"a mixed token, {args.prompts} prompts x {args.new_tokens} tokens:")
    mixing = bench_mixing(model, tokenizer, prompts, args)
    print(f"nonlinear pair sweep on {len(tokenized)} held-out pairs:")
    nonlinear = bench_nonlinear_sweep(model, sweep_batch, taus, args)

    ratios = ratios_of(train, sweep, gen, mixing, nonlinear)
    print_ratios(ratios, GOALS[which], which, skipped)
    result = {"machine": {"platform": platform.platform(), "processor": platform.processor(),
                          "threads": torch.get_num_threads(), "torch": torch.__version__,
                          "device": torch.cuda.get_device_name() if args.device == "cuda" else "cpu"},
              "config": vars(args), "base": base_name, "training": train, "trl_skipped": skipped, "sweep": sweep,
              "generation": gen, "mixing": mixing, "nonlinear_sweep": nonlinear, "ratios": ratios, "goal_set": which,
              "goals": {k: f"{op} {b}" for k, (op, b) in GOALS[which].items()}}
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    write_json(args.out, result)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    run_cli(main)
