"""Tangent-space DPO (TS-DPO): one DPO run in the model linearized around theta0, written as a task vector.

The policy is the first-order Taylor expansion of the LM around its pretrained weights theta0:

    f_lin(x; tau) = f(x; theta0) + J_theta f(x; theta0) . tau                  (one torch.func.jvp)
    h   = [log pi_tau(y_c|x) - log pi_0(y_c|x)] - [log pi_tau(y_r|x) - log pi_0(y_r|x)]
    L(tau) = -log sigmoid(beta h)                    (or IPO / cDPO / hinge, see dpo_loss.py)

pi_tau = softmax(f_lin); the reference pi_0 = softmax(f(x; theta0)) is the jvp's primal output, so there is
no second model and no second forward. One run per objective k gives tau_k; f_lin is linear in tau, so
users mix them at inference as theta0 + sum_k alpha_k tau_k (compose.py). `--mode standard` is plain DPO on
the nonlinear model (reference = frozen theta0) saved as tau = theta_k - theta0; `--weights` trains one
scalarized objective sum_a w_a * attribute_a (the paper's baseline).

    python train_tangent.py --mode tangent  --objective helpfulness        # -> runs/ts-helpfulness
    python train_tangent.py --mode standard --objective helpfulness        # -> runs/dpo-helpfulness
    python train_tangent.py --mode standard --weights helpfulness=0.75,verbosity=-0.25 --out runs/scal-0.75
    python train_tangent.py --mode tangent  --objective safety --resume    # continue a killed run
    torchrun --nproc_per_node=2 train_tangent.py --mode tangent --objective helpfulness   # DDP, gloo on CPU
    python train_tangent.py --base Qwen/Qwen2.5-0.5B --data nvidia/HelpSteer --device cuda --linearize "layers\\.2[0-3]\\."

--batch-size is the GLOBAL batch (pairs per optimizer step): it is split over ranks, then into --grad-accum
micro-batches, so every layout computes the same step. Data order is a pure function of (seed, epoch), which
makes --resume bit-exact on CPU. --out gets config.json, metrics.jsonl (TRL names; held-out rows "eval/..."),
curves.png, task_vector.safetensors (tau only + metadata), checkpoint.pt and ref_logps.pt (--precompute-ref).
"""
import argparse
import contextlib
import copy
import json
import math
import os
import random
import re
import subprocess
import sys
import time

import torch
import torch.distributed as dist

import data
from dpo_loss import LOSSES, concatenated_logps, dpo_metrics, preference_loss
from linearize import LinearizedModel, TaskVector, fingerprint, load_model, load_tokenizer

# Tuned on the toy world so that alpha = 1 moves the oracle score by a similar amount in both modes while most
# answers stay well-formed (tangent 1e-3 / standard 2e-4 broke 2/3 resp. 1/6 of the answers at alpha = 1).
DEFAULT_LR = {"tangent": 2e-4, "standard": 5e-5}
TOY_ATTRIBUTES = ("helpfulness", "verbosity", "safety")  # toyworld.ATTRIBUTES (not imported: keep this light)
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}
STATS = ("losses", "chosen_rewards", "rejected_rewards", "pi_chosen", "pi_rejected")


# ----------------------------------------------------------------------------- the two policies
class TangentPolicy(torch.nn.Module):
    """pi_tau = softmax(f0 + J tau). tau (fp32) is the only Parameter, so optimizers and DDP see just it."""

    def __init__(self, model, linearize=None):
        super().__init__()
        self.lin = LinearizedModel(model, linearize)  # checks eager attention, freezes theta0
        # ParameterDict keys may not contain '.', parameter names always do
        self.tau = torch.nn.ParameterDict({n.replace(".", "-"): torch.nn.Parameter(torch.zeros_like(p, dtype=torch.float32))
                                           for n, p in self.lin.theta0.items()})

    def _tau(self):
        return TaskVector({n: self.tau[n.replace(".", "-")] for n in self.lin.names})

    def forward(self, input_ids, attention_mask, need_ref=True):
        """(f0, f_lin), (B, T, V): one jvp gives the reference (primal) and J tau (tangent)."""
        return self.lin(input_ids, attention_mask, tau=self._tau())  # f0 + J tau, summed in >= fp32

    def task_vector(self):
        return self._tau().detach()


class StandardPolicy(torch.nn.Module):
    """pi_theta = softmax(f(x; theta)), theta a trainable copy of theta0; the frozen theta0 is the reference."""

    def __init__(self, model, linearize=None):
        super().__init__()
        model.eval()
        model.config.use_cache = False
        for p in model.parameters():
            p.requires_grad_(False)
        self.policy = copy.deepcopy(model)  # deepcopy keeps tied weights tied
        pattern = re.compile(linearize) if linearize else None
        self.names = [n for n, _ in model.named_parameters() if pattern is None or pattern.search(n)]
        if not self.names:
            raise ValueError(f"--linearize {linearize!r} matches no parameter name; fix the regex")
        for n, p in self.policy.named_parameters():
            p.requires_grad_(n in self.names)
        self.ref = [model]  # in a list: not a submodule, so DDP and checkpoints see only the trainable copy

    def forward(self, input_ids, attention_mask, need_ref=True):
        f0 = None
        if need_ref:
            with torch.no_grad():
                f0 = self.ref[0](input_ids=input_ids, attention_mask=attention_mask, use_cache=False).logits
        return f0, self.policy(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).logits

    def task_vector(self):
        tau = TaskVector.from_models(self.policy, self.ref[0])
        return TaskVector({n: tau[n] for n in self.names})


def make_policy(mode, model, linearize=None):
    """TangentPolicy (TS-DPO) or StandardPolicy (DPO); either has .task_vector() -> TaskVector."""
    if mode not in ("tangent", "standard"):
        raise ValueError(f"--mode {mode!r}: use tangent or standard")
    return (TangentPolicy if mode == "tangent" else StandardPolicy)(model, linearize)


def policy_logps(policy, batch, ref_logps=None):
    """(pi_c, pi_r, ref_c, ref_r), each (B,), from ONE forward (one jvp) over the (2B, T) batch, chosen rows first.

    ref_logps (2B,) are precomputed reference log-probs: the standard policy then skips its reference forward."""
    n = batch["input_ids"].shape[0] // 2
    f0, logits = policy(batch["input_ids"], batch["attention_mask"], need_ref=ref_logps is None)
    pi_c, pi_r = concatenated_logps(logits, batch["labels"], n)
    ref_c, ref_r = (ref_logps[:n], ref_logps[n:]) if ref_logps is not None else concatenated_logps(f0, batch["labels"], n)
    return pi_c, pi_r, ref_c.detach(), ref_r.detach()


# ----------------------------------------------------------------------------- pure helpers
def batch_indices(n, global_batch, step, seed):
    """Pair indices of optimizer step `step`: one permutation per epoch, a pure function of (seed, epoch)."""
    epoch, k = divmod(step, n // global_batch)
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch)).tolist()
    return perm[k * global_batch:(k + 1) * global_batch]


def lr_factor(step, warmup, steps, schedule):
    """Linear warmup, then constant or cosine to 10% of the peak."""
    if step < warmup:
        return (step + 1) / warmup
    if schedule == "constant":
        return 1.0
    return 0.1 + 0.45 * (1 + math.cos(math.pi * (step - warmup) / max(1, steps - warmup)))


def atomic(path, write):
    tmp = f"{path}.tmp{os.getpid()}"
    write(tmp)
    os.replace(tmp, path)


def write_json(path, obj, lines=False):
    text = "".join(json.dumps(r) + "\n" for r in obj) if lines else json.dumps(obj, indent=2) + "\n"
    atomic(path, lambda tmp: open(tmp, "w").write(text))


def plot_curves(rows, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for ax, key in zip(axes, ("loss", "rewards/accuracies")):
        for prefix, style in (("", "-"), ("eval/", "o-")):
            pts = [(r["step"], r[prefix + key]) for r in rows if prefix + key in r]
            if pts:
                ax.plot(*zip(*pts), style, label=("eval " if prefix else "train ") + key, alpha=0.8)
        ax.set_xlabel("step"), ax.set_title(key), ax.legend()
    fig.tight_layout()
    atomic(path, lambda tmp: fig.savefig(tmp, format="png", dpi=90))
    plt.close(fig)


def run_info():
    import transformers
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=os.path.dirname(os.path.abspath(__file__)),
                                capture_output=True, text=True, timeout=10).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        commit = None
    return {"versions": {"python": sys.version.split()[0], "torch": torch.__version__,
                         "transformers": transformers.__version__}, "git_commit": commit}


# ----------------------------------------------------------------------------- flags
def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--mode", default="tangent", choices=["tangent", "standard"], help="TS-DPO or plain DPO")
    p.add_argument("--objective", default=None, help="attribute to raise (toy: helpfulness | verbosity | safety)")
    p.add_argument("--weights", default=None, help="scalarized objective, e.g. helpfulness=0.7,verbosity=-0.3")
    p.add_argument("--base", default="runs/base", help="theta0: HF folder or hub id (cached)")
    p.add_argument("--data", default="toy", help="toy | a hub name known to data.py | a local .jsonl/.parquet")
    p.add_argument("--limit", type=int, default=None, help="read at most this many source rows")
    p.add_argument("--data-seed", type=int, default=0, help="toy world + split seed (same for every run)")
    p.add_argument("--beta", type=float, default=0.1)
    p.add_argument("--loss", default="sigmoid", choices=list(LOSSES))
    p.add_argument("--label-smoothing", type=float, default=0.0, help="cDPO flip rate")
    p.add_argument("--lr", type=float, default=None, help=f"peak AdamW lr (default {DEFAULT_LR})")
    p.add_argument("--weight-decay", type=float, default=0.0, help="0: decay would pull theta to 0, not theta0")
    p.add_argument("--schedule", default="cosine", choices=["cosine", "constant"])
    p.add_argument("--warmup-steps", type=int, default=10)
    p.add_argument("--max-grad-norm", type=float, default=1.0)
    p.add_argument("--steps", type=int, default=None, help="optimizer steps (default 120)")
    p.add_argument("--epochs", type=float, default=None, help="instead of --steps: passes over the train pairs")
    p.add_argument("--batch-size", type=int, default=8, help="global pairs per optimizer step")
    p.add_argument("--grad-accum", type=int, default=1, help="micro-batches per rank per step")
    p.add_argument("--max-length", type=int, default=128, help="tokens of prompt + response (data.py truncation)")
    p.add_argument("--linearize", default=None, help="regex on parameter names that move (default: all)")
    p.add_argument("--seed", type=int, default=0, help="data order")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--dtype", default="fp32", choices=list(DTYPES), help="bf16 can swallow small J tau")
    p.add_argument("--eval-every", type=int, default=60, help="held-out metrics every N steps (and at the end)")
    p.add_argument("--eval-pairs", type=int, default=128, help="held-out (validation) pairs per evaluation")
    p.add_argument("--eval-batch-size", type=int, default=32)
    p.add_argument("--save-every", type=int, default=60, help="checkpoint every N steps")
    p.add_argument("--out", default=None, help="run folder (default runs/ts-<obj>, runs/dpo-<obj>, runs/scal-<w>)")
    p.add_argument("--resume", action="store_true", help="continue from --out/checkpoint.pt")
    p.add_argument("--force", action="store_true", help="retrain even if --out holds a finished run")
    p.add_argument("--precompute-ref", action="store_true", help="standard mode: cache reference log-probs once")
    p.add_argument("--compile", action="store_true", help="torch.compile the policy (pads to --max-length)")
    a = p.parse_args(argv)
    if (a.objective is None) == (a.weights is None):
        p.error("give exactly one of --objective NAME or --weights a=0.7,b=-0.3")
    if a.weights is not None:
        try:
            a.weights = data.weights_label(data.parse_weights(a.weights))
        except ValueError as e:
            p.error(str(e))
    names = [a.objective] if a.objective else list(data.parse_weights(a.weights))
    bad = [n for n in names if n not in TOY_ATTRIBUTES]
    if a.data == "toy" and bad:
        p.error(f"unknown objective {bad[0]!r} for --data toy; use one of {', '.join(TOY_ATTRIBUTES)}")
    if a.loss == "cdpo" and not 0 < a.label_smoothing < 0.5:
        p.error("--loss cdpo needs 0 < --label-smoothing < 0.5")
    if a.precompute_ref and a.mode == "tangent":
        p.error("--precompute-ref is for --mode standard; in tangent mode the reference is the jvp's free primal")
    if a.steps is not None and a.epochs is not None:
        p.error("give --steps or --epochs, not both")
    if a.device == "cuda" and not torch.cuda.is_available():
        p.error("--device cuda: no CUDA device visible; use --device cpu")
    a.lr = DEFAULT_LR[a.mode] if a.lr is None else a.lr
    if a.out is None:  # runs/ts-<obj>, runs/dpo-<obj>, runs/scal-<w> (standard), runs/ts-scal-<w> (tangent)
        name = a.objective or "scal-" + a.weights.replace("=", "").replace(",", "_")
        a.out = os.path.join("runs", ("ts-" if a.mode == "tangent" else "dpo-" if a.objective else "") + name)
    return a


# ----------------------------------------------------------------------------- the loop
@torch.no_grad()
def evaluate(policy, items, collate, beta, loss, smoothing, batch_size):
    """TRL metrics over held-out pairs, keys prefixed eval/."""
    out = []
    for s in range(0, len(items), batch_size):
        pc, pr, rc, rr = policy_logps(policy, collate(items[s:s + batch_size]))
        out.append(torch.stack([*preference_loss(pc, pr, rc, rr, beta, loss, smoothing), pc, pr]).float())
    return {"eval/" + k: v for k, v in dpo_metrics(*torch.cat(out, 1)).items()}


def reference_logps(policy, items, collate, batch_size):
    """log pi_0 of every pair (N, 2) [chosen, rejected] under the frozen reference: one pass, no grad."""
    out = []
    with torch.no_grad():
        for s in range(0, len(items), batch_size):
            b = collate(items[s:s + batch_size])
            f0 = policy.ref[0](input_ids=b["input_ids"], attention_mask=b["attention_mask"], use_cache=False).logits
            out.append(torch.stack(concatenated_logps(f0, b["labels"], len(b["input_ids"]) // 2), 1).float().cpu())
    return torch.cat(out)


def train(args, return_policy=False):
    """One run into args.out; returns the run folder (and the policy when return_policy)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if args.device == "cuda" else "gloo")
    rank, world = (dist.get_rank(), dist.get_world_size()) if dist.is_initialized() else (0, 1)
    device = f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}" if args.device == "cuda" else "cpu"
    main, out = rank == 0, args.out
    paths = {k: os.path.join(out, f) for k, f in (("cfg", "config.json"), ("tv", "task_vector.safetensors"),
             ("ck", "checkpoint.pt"), ("metrics", "metrics.jsonl"), ("curves", "curves.png"), ("ref", "ref_logps.pt"))}
    if os.path.exists(paths["tv"]) and os.path.exists(paths["cfg"]) and not args.force:
        if json.load(open(paths["cfg"])).get("finished"):
            if main:
                print(f"train_tangent.py: {out} is finished, skipping (pass --force to retrain)")
            return (out, None) if return_policy else out
    try:
        pairs = data.load_pairs(args.data, args.objective, args.weights, "train", args.limit, args.data_seed)
        val = data.load_pairs(args.data, args.objective, args.weights, "validation", args.limit, args.data_seed)
        model = load_model(args.base, device, DTYPES[args.dtype])
        tokenizer = load_tokenizer(args.base)
        policy = make_policy(args.mode, model, args.linearize)
    except ValueError as e:
        raise SystemExit(f"error: {e}") from None
    random.Random(0).shuffle(val)  # a fixed, prompt-diverse held-out subset
    memo = {}  # tokenize lazily: a short run visits a few thousand of the tens of thousands of toy pairs
    tok_train = lambda i: memo[i] if i in memo else memo.setdefault(i, data.tokenize_pair(tokenizer, pairs[i], args.max_length))
    tok_val = data.tokenize_pairs(tokenizer, val[:args.eval_pairs], args.max_length)
    pad_to = args.max_length if args.compile else None  # fixed shapes: compile once
    collate = lambda items: {k: v.to(device) for k, v in data.collate_pairs(items, tokenizer.pad_token_id, pad_to).items()}

    gbs, accum = args.batch_size, args.grad_accum
    if gbs % (world * accum) or len(pairs) < gbs:
        raise SystemExit(f"error: --batch-size {gbs} must be divisible by ranks x --grad-accum ({world} x {accum}) "
                         f"and at most the {len(pairs)} train pairs")
    micro = gbs // (world * accum)
    steps = args.steps if args.steps is not None else math.ceil(args.epochs * len(pairs) / gbs) if args.epochs else 120
    trainable = [p for p in policy.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(trainable, lr=args.lr, weight_decay=args.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(s, args.warmup_steps, steps, args.schedule))
    base_fp = fingerprint(model)
    signature = {k: getattr(args, k) for k in ("mode", "objective", "weights", "seed", "batch_size", "lr", "beta",
                                                "loss", "linearize", "data", "limit", "max_length")}
    signature.update(steps=steps, base_fingerprint=base_fp)

    ref_cache = None
    if args.precompute_ref:  # (N, 2) log pi_0 [chosen, rejected]; NaN = not computed (pairs this run never visits)
        key = {"fingerprint": base_fp, "max_length": args.max_length, "n": len(pairs), "data": args.data}
        cache = torch.load(paths["ref"]) if os.path.exists(paths["ref"]) else {}
        if cache.get("key") != key:
            cache = {"key": key, "logps": torch.full((len(pairs), 2), float("nan"))}
        need = sorted({i for s in range(steps) for i in batch_indices(len(pairs), gbs, s, args.seed)})
        need = [i for i in need if torch.isnan(cache["logps"][i]).any()]
        if main and need:
            os.makedirs(out, exist_ok=True)
            cache["logps"][need] = reference_logps(policy, [tok_train(i) for i in need], collate, args.eval_batch_size)
            atomic(paths["ref"], lambda tmp: torch.save(cache, tmp))
        if world > 1:
            dist.barrier()
            cache = torch.load(paths["ref"])
        ref_cache = cache["logps"]

    rows, start = [], 0
    if args.resume and os.path.exists(paths["ck"]):
        ck = torch.load(paths["ck"], weights_only=False)
        if ck["signature"] != signature:
            diff = next(k for k in signature if ck["signature"].get(k) != signature[k])
            raise SystemExit(f"error: --resume: {paths['ck']} was written with {diff}={ck['signature'].get(diff)!r}, "
                             f"not {signature[diff]!r}; use the same flags or drop --resume")
        with torch.no_grad():
            for p, saved in zip(trainable, ck["trainable"]):
                p.copy_(saved)
        opt.load_state_dict(ck["optimizer"]), sched.load_state_dict(ck["scheduler"])
        torch.set_rng_state(ck["rng"]["torch"]), random.setstate(ck["rng"]["python"])
        start = ck["step"]
        if os.path.exists(paths["metrics"]):
            rows = [json.loads(line) for line in open(paths["metrics"]) if line.strip()]
            rows = [r for r in rows if r["step"] <= start]
    elif args.resume and main:
        print(f"train_tangent.py: no checkpoint in {out}; starting from step 0")
    if main:
        os.makedirs(out, exist_ok=True)
        config = {**vars(args), "steps": steps, "world_size": world, "n_train_pairs": len(pairs),
                  "n_eval_pairs": len(tok_val), "base_fingerprint": base_fp, **run_info(), "finished": False}
        write_json(paths["cfg"], config)

    ddp = torch.nn.parallel.DistributedDataParallel(policy) if world > 1 else policy
    fwd = torch.compile(ddp) if args.compile else ddp
    from tqdm import tqdm
    bar = tqdm(range(start, steps), initial=start, total=steps, disable=not main,
               desc=f"{args.mode} {args.objective or args.weights}")
    t_start = time.time()
    for step in bar:
        t0 = time.time()
        mine = batch_indices(len(pairs), gbs, step, args.seed)[rank * gbs // world:(rank + 1) * gbs // world]
        stats, n_tokens = [], 0
        for m in range(accum):
            chunk = mine[m * micro:(m + 1) * micro]
            batch = collate([tok_train(i) for i in chunk])
            ref = None if ref_cache is None else torch.cat([ref_cache[chunk, 0], ref_cache[chunk, 1]]).to(device)
            # DDP all-reduces gradients only on the last micro-batch of the step
            with ddp.no_sync() if world > 1 and m < accum - 1 else contextlib.nullcontext():
                pc, pr, rc, rr = policy_logps(fwd, batch, ref)
                losses, cr, rw = preference_loss(pc, pr, rc, rr, args.beta, args.loss, args.label_smoothing)
                (losses.sum() * world / gbs).backward()  # DDP averages over ranks: the mean over the global batch
            stats.append(torch.stack([losses.detach(), cr, rw, pc.detach(), pr.detach()]).float())
            n_tokens += int(batch["attention_mask"].sum())
        stats = torch.cat(stats, 1)
        if world > 1:
            gathered = [torch.empty_like(stats) for _ in range(world)]
            dist.all_gather(gathered, stats)
            stats = torch.cat(gathered, 1)
        grad_norm = float(torch.nn.utils.clip_grad_norm_(trainable, args.max_grad_norm))
        if not (torch.isfinite(stats[0]).all() and math.isfinite(grad_norm)):
            kept = (f"the last good checkpoint is step {torch.load(paths['ck'], weights_only=False)['step']} in "
                    f"{paths['ck']}" if os.path.exists(paths["ck"]) else "no checkpoint was written yet")
            raise SystemExit(f"error: non-finite loss/grad at step {step + 1} (lr {sched.get_last_lr()[0]:g}); "
                             f"the run stopped, {kept}; lower --lr or check the data")
        lr = sched.get_last_lr()[0]
        opt.step(), sched.step(), opt.zero_grad(set_to_none=True)
        row = {"step": step + 1, **dpo_metrics(*stats), "grad_norm": grad_norm, "lr": lr,
               "tokens_per_s": n_tokens * world / (time.time() - t0)}
        if main:
            rows.append(row)
            bar.set_postfix(loss=f"{row['loss']:.3f}", acc=f"{row['rewards/accuracies']:.2f}")
            if (step + 1) % args.eval_every == 0 or step + 1 == steps:
                rows.append({"step": step + 1, **evaluate(policy, tok_val, collate, args.beta, args.loss,
                                                           args.label_smoothing, args.eval_batch_size)})
                bar.write(f"step {step + 1}: eval loss {rows[-1]['eval/loss']:.4f}, "
                          f"acc {rows[-1]['eval/rewards/accuracies']:.3f}")
            write_json(paths["metrics"], rows, lines=True)
        if (step + 1) % args.save_every == 0 and step + 1 < steps and main:
            ck = {"step": step + 1, "signature": signature, "trainable": [p.detach().clone() for p in trainable],
                  "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                  "rng": {"torch": torch.get_rng_state(), "python": random.getstate()}}
            atomic(paths["ck"], lambda tmp: torch.save(ck, tmp))

    if main:
        meta = {"mode": args.mode, "objective": args.objective or "", "weights": args.weights or "",
                "beta": args.beta, "loss": args.loss, "label_smoothing": args.label_smoothing, "steps": steps,
                "lr": args.lr, "linearize": args.linearize or "", "seed": args.seed, "data": args.data,
                "base": args.base, "base_fingerprint": base_fp}
        policy.task_vector().save(paths["tv"], meta)
        plot_curves(rows, paths["curves"])
        config.update(finished=True, train_seconds=round(time.time() - t_start, 1))
        write_json(paths["cfg"], config)
    if world > 1:
        dist.barrier()
    return (out, policy) if return_policy else out


if __name__ == "__main__":
    train(parse_args())
