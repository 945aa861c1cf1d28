"""What TS-DPO costs, measured side by side in one run on the same model, data and batch.

    1. one training step (forward + backward + AdamW), median of --repeats after --warmup:
         TS-DPO         one jvp gives the reference f0 and J tau; backward through the jvp
         DPO, ref recomputed     policy forward + a reference forward
         DPO, ref precomputed    policy forward only (reference log-probs cached before training)
       with tokens/s and memory: peak allocated on CUDA; on CPU (no allocator statistics) the bytes
       autograd saves for backward plus the trainable state (tau or theta, its gradient, AdamW's moments).
    2. an alpha sweep of 21 points on held-out pairs: the linearity trick (K jvps, then
       f0 + sum_k alpha_k J tau_k per point) vs recomputing the linearized model per alpha.
    3. generation for 11 alpha points: one batched linearized generation vs one alpha at a time.

Ratios are the point (both sides measured here and now); absolute times depend on the machine.

    python bench.py                       # CPU, the embedded base (a random model of its shape if runs/base is missing)
    python bench.py --base Qwen/Qwen2.5-0.5B --device cuda --batch-size 8 --max-length 512 --dtype bf16
Writes results/bench.json.
"""
import argparse
import os
import platform
import statistics
import time

import torch

import data
from compose import generate, generate_sweep, sweep_logps
from dpo_loss import preference_loss, sequence_logps
from linearize import LinearizedModel, TaskVector, load_model, load_tokenizer
from runs import positive, run_cli, write_json
from train_tangent import make_policy, policy_logps

GOALS = {"ts_vs_dpo_recomputed": 1.5, "ts_vs_dpo_precomputed": 2.0, "ts_memory_vs_dpo": 2.0, "sweep_speedup": 8.0}


def sync(device):
    if device == "cuda":
        torch.cuda.synchronize()


def timed(fn, device, warmup, repeats):
    """Median wall time of fn() in seconds."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        sync(device)
        t = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


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


def bench_training(model, batch, args):
    """Step time, tokens/s and memory for TS-DPO and for DPO with the reference recomputed or precomputed."""
    tokens = int(batch["attention_mask"].sum())
    out = {}
    with torch.no_grad():
        ref = sequence_logps(model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits,
                             batch["labels"])
    for name, mode, ref_logps in (("ts_dpo", "tangent", None), ("dpo_ref_recomputed", "standard", None),
                                  ("dpo_ref_precomputed", "standard", ref)):
        policy = make_policy(mode, model, args.linearize)
        trainable = [p for p in policy.parameters() if p.requires_grad]
        opt = torch.optim.AdamW(trainable, lr=1e-6)

        def step():
            pi_c, pi_r, ref_c, ref_r = policy_logps(policy, batch, ref_logps)
            loss = preference_loss(pi_c, pi_r, ref_c, ref_r, beta=0.1)[0].mean()
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)

        seconds = timed(step, args.device, args.warmup, args.repeats)
        state = 4 * sum(p.numel() * p.element_size() for p in trainable)  # param, grad, exp_avg, exp_avg_sq
        if args.device == "cuda":
            torch.cuda.reset_peak_memory_stats()
            base = torch.cuda.memory_allocated()
            step()
            memory = torch.cuda.max_memory_allocated() - base + state
        else:
            with SavedBytes(model.parameters()) as saved:
                pi_c, pi_r, ref_c, ref_r = policy_logps(policy, batch, ref_logps)
                loss = preference_loss(pi_c, pi_r, ref_c, ref_r, beta=0.1)[0].mean()
            loss.backward()
            opt.zero_grad(set_to_none=True)
            memory = saved.total + state
        out[name] = {"step_s": seconds, "tokens_per_s": tokens / seconds, "memory_mb": memory / 2**20}
        print(f"  {name:22s} {seconds * 1e3:8.1f} ms/step  {tokens / seconds:9.0f} tok/s  {memory / 2**20:8.1f} MB")
        del policy, opt
    return out


def bench_sweep(lin, batch, taus, args):
    """21 alpha points on one batch of held-out pairs: the linearity trick vs one linearized forward per alpha."""
    alphas = torch.stack([torch.linspace(-2, 2, 21), torch.linspace(2, -2, 21)], dim=1)

    @torch.no_grad()
    def per_alpha():
        return torch.stack([sequence_logps(lin(batch["input_ids"], batch["attention_mask"],
                                               tau=sum(float(a) * t for a, t in zip(point, taus)))[1], batch["labels"])
                            for point in alphas])

    trick = lambda: sweep_logps(lin, batch, taus, alphas)[1]
    err = float((trick() - per_alpha()).abs().max())
    t_trick = timed(trick, args.device, 1, args.repeats)
    t_naive = timed(per_alpha, args.device, 1, max(1, args.repeats // 2))
    print(f"  trick {t_trick * 1e3:.0f} ms, per alpha {t_naive * 1e3:.0f} ms: {t_naive / t_trick:.1f}x "
          f"(max |logp difference| {err:.1e})")
    return {"points": len(alphas), "trick_s": t_trick, "per_alpha_s": t_naive, "speedup": t_naive / t_trick,
            "max_abs_logp_diff": err}


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
    """The base folder if there is one; otherwise a random model of the embedded base's shape (speed only)."""
    dtype = torch.bfloat16 if args.dtype == "bf16" else torch.float32
    if os.path.isdir(args.base) or "/" in args.base and not args.base.startswith(("runs/", "./")):
        return load_model(args.base, args.device, dtype), load_tokenizer(args.base), args.base
    import base_model
    import toyworld
    print(f"{args.base} not found: timing a random model of the embedded base's shape")
    tokenizer = base_model.train_tokenizer(toyworld.corpus(500, seed=0))
    model = base_model.build_model(len(tokenizer), eos_id=tokenizer.eos_token_id).to(args.device, dtype).eval()
    model.config.use_cache = False
    return model, tokenizer, "random (embedded shape)"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--base", default="runs/base", help="HF folder or hub id")
    p.add_argument("--data", default="toy", help="pair source (data.py)")
    p.add_argument("--objective", default="helpfulness")
    p.add_argument("--batch-size", type=positive(), default=8, help="pairs per training step")
    p.add_argument("--max-length", type=positive(), default=96, help="tokens per sequence (>= 2)")
    p.add_argument("--linearize", default=None, help="regex of parameters that move (default: all)")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--dtype", default="fp32", choices=["fp32", "bf16"])
    p.add_argument("--warmup", type=positive(allow_zero=True), default=2, help="untimed rounds first")
    p.add_argument("--repeats", type=positive(), default=7, help="timed rounds (median)")
    p.add_argument("--prompts", type=positive(), default=8, help="prompts per alpha point in the generation benchmark")
    p.add_argument("--new-tokens", type=positive(), default=32)
    p.add_argument("--out", default="results/bench.json")
    args = p.parse_args(argv)
    if args.max_length < 2:
        p.error(f"--max-length {args.max_length}: a sequence needs at least 2 tokens (prompt + response)")
    if args.device == "cuda" and not torch.cuda.is_available():
        p.error("--device cuda: no CUDA device visible; use --device cpu")
    torch.manual_seed(0)
    if args.device == "cpu":
        torch.set_num_threads(min(os.cpu_count() or 1, 2))
    model, tokenizer, base_name = load_base(args)
    pairs = data.load_pairs(args.data, objective=args.objective, split="test", limit=2000)
    tokenized = data.tokenize_pairs(tokenizer, pairs[:4 * args.batch_size], max_length=args.max_length)
    pad = tokenizer.pad_token_id
    to_dev = lambda b: {k: v.to(args.device) for k, v in b.items()}
    batch = to_dev(data.collate_pairs(tokenized[:args.batch_size], pad))
    sweep_batch = to_dev(data.collate_pairs(tokenized[:4 * args.batch_size], pad))
    print(f"base {base_name}: {sum(p.numel() for p in model.parameters()):,} parameters, {args.device} {args.dtype}, "
          f"{torch.get_num_threads()} threads; batch {args.batch_size} pairs x {batch['input_ids'].shape[1]} tokens")

    print("training step (forward + backward + AdamW):")
    train = bench_training(model, batch, args)
    lin = LinearizedModel(model, args.linearize)
    g = torch.Generator().manual_seed(1)
    taus = [TaskVector({n: 1e-2 * torch.randn(t.shape, generator=g).to(t.device, t.dtype) for n, t in lin.theta0.items()})
            for _ in range(2)]
    print(f"alpha sweep on {len(tokenized)} held-out pairs:")
    sweep = bench_sweep(lin, sweep_batch, taus, args)
    print(f"generation, {args.prompts} prompts, {args.new_tokens} new tokens:")
    prompts = list(dict.fromkeys(pr["prompt"] for pr in pairs))[:args.prompts]
    gen = bench_generation(lin, tokenizer, prompts, taus, args)

    ts, rec, pre = train["ts_dpo"], train["dpo_ref_recomputed"], train["dpo_ref_precomputed"]
    ratios = {"ts_vs_dpo_recomputed": ts["step_s"] / rec["step_s"], "ts_vs_dpo_precomputed": ts["step_s"] / pre["step_s"],
              "ts_memory_vs_dpo": ts["memory_mb"] / rec["memory_mb"], "sweep_speedup": sweep["speedup"],
              "generation_speedup": gen["speedup"]}
    print("\nratio                       measured   goal")
    for k, v in ratios.items():
        goal = GOALS.get(k)
        verdict = "" if goal is None else ("  met" if (v >= goal if k == "sweep_speedup" else v <= goal) else "  MISSED")
        print(f"  {k:26s} {v:7.2f}x  {'' if goal is None else ('>=' if k == 'sweep_speedup' else '<=') + f'{goal}x'}{verdict}")
    result = {"machine": {"platform": platform.platform(), "processor": platform.processor(), "threads": torch.get_num_threads(),
                          "device": torch.cuda.get_device_name() if args.device == "cuda" else "cpu", "torch": torch.__version__},
              "config": vars(args), "base": base_name, "training": train, "sweep": sweep, "generation": gen,
              "ratios": ratios, "goals": GOALS}
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    write_json(args.out, result)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    run_cli(main)
