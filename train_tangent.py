"""Tangent-space DPO (TS-DPO): one DPO run in the model linearized around theta0, written as a task vector.

The policy is the first-order Taylor expansion of the LM around its pretrained weights theta0:

    f_lin(x; tau) = f(x; theta0) + J_theta f(x; theta0) . tau                  (one torch.func.jvp)
    h   = [log pi_tau(y_c|x) - log pi_0(y_c|x)] - [log pi_tau(y_r|x) - log pi_0(y_r|x)]
    L(tau) = -log sigmoid(beta h)                    (or IPO / cDPO / hinge, see dpo_loss.py)

pi_tau = softmax(f_lin); the reference pi_0 = softmax(f(x; theta0)) is the jvp's primal output, so there is
no second model and no second forward. One run per objective k gives tau_k; f_lin is linear in tau, so
users mix them at inference as theta0 + sum_k alpha_k tau_k (compose.py). `--mode standard` is plain DPO on
the nonlinear model (reference = frozen theta0) saved as tau = theta_k - theta0; `--weights` trains one
scalarized objective sum_a w_a * attribute_a (the paper's baseline). `--loss ipo` uses per-token average
log-probs, as published (dpo_loss.length_normalized); the other losses use sums.

    python train_tangent.py --mode tangent  --objective helpfulness        # -> runs/ts-helpfulness
    python train_tangent.py --mode standard --objective helpfulness        # -> runs/dpo-helpfulness
    python train_tangent.py --mode standard --weights helpfulness=0.75,verbosity=-0.25 --out runs/scal-0.75
    python train_tangent.py --mode tangent  --objective safety --resume    # continue a killed run
    torchrun --nproc_per_node=2 train_tangent.py --mode tangent --objective helpfulness   # DDP, gloo on CPU
    python train_tangent.py --base Qwen/Qwen2.5-0.5B --data nvidia/HelpSteer --device cuda --linearize "layers\\.2[0-3]\\."

The file reads policies -> `train()` (the loop marked `# ALGO LOGIC:`) -> named helpers -> flags. Logits
exist only where a response token is scored (N, V), inside the jvp too. --batch-size is the GLOBAL batch (split
over ranks, then --grad-accum), so every layout computes the same step; data order is a pure function of (seed,
epoch), so --resume is bit-exact on CPU; Ctrl-C stops between two steps and leaves a checkpoint for it. --out is a
run folder as plumbing/run_folder.py describes it: never a model folder, never a finished run of other flags.
"""
import contextlib
import copy
import functools
import hashlib
import json
import math
import os
import random
import re
import signal
import sys
import time

import torch
import torch.distributed as dist
from tqdm import tqdm

import data
from dpo_loss import LOSSES, concatenated_logps, dpo_metrics, length_normalized, preference_loss, scored_positions
from linearize import LinearizedModel, TaskVector, Trunk, fingerprint, freeze, scored_logits, select_parameters
from plumbing.models import load_model, load_tokenizer
from plumbing.checkpoints import resume, save_checkpoint, warmup_cosine
from plumbing.cli import Parser, in_range, positive, run_cli
from plumbing.run_folder import (atomic_write, check_out, default_out, plot_curves, read_json, run_info, write_json,
                                 write_jsonl)
from toyworld import ATTRIBUTES, DEFAULT_CORRELATION, correlation_flag

# Tuned on the toy world so that alpha = 1 moves the oracle score by a similar amount in both modes while most
# answers stay well-formed (tangent 1e-3 / standard 2e-4 broke 2/3 resp. 1/6 of the answers at alpha = 1).
DEFAULT_LR = {"tangent": 2e-4, "standard": 5e-5}
DEFAULT_STEPS = 120
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}
FILES = {"config": "config.json", "vector": "task_vector.safetensors", "checkpoint": "checkpoint.pt",
         "metrics": "metrics.jsonl", "curves": "curves.png", "ref": "ref_logps.pt"}  # the run folder (plumbing/run_folder.py)
# the flags that change what a run computes: a finished run is reused only when they all match its config.json
RESULT_FLAGS = ("mode", "objective", "weights", "base", "data", "limit", "data_seed", "correlation", "beta", "loss",
                "label_smoothing", "lr", "weight_decay", "schedule", "warmup_steps", "max_grad_norm", "steps", "epochs",
                "batch_size", "max_length", "linearize", "seed", "dtype")


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

    def forward(self, input_ids, attention_mask, keep=None, need_ref=True):
        """(f0, f_lin): one jvp gives the reference (primal) and J tau (tangent); (N, V) at the scored positions
        `keep` (dpo_loss.scored_positions; logits gathered inside the jvp), (B, T, V) without."""
        return self.lin(input_ids, attention_mask, tau=self._tau(), keep=keep)  # f0 + J tau, summed in >= fp32

    def task_vector(self):
        return self._tau().detach()


class StandardPolicy(torch.nn.Module):
    """pi_theta = softmax(f(x; theta)), theta a trainable copy of theta0; the frozen theta0 is the reference."""

    def __init__(self, model, linearize=None):
        super().__init__()
        self.names = select_parameters(model, linearize)
        self.policy = copy.deepcopy(freeze(model))  # deepcopy keeps tied weights tied
        for n, p in self.policy.named_parameters():
            p.requires_grad_(n in self.names)
        params = dict(model.named_parameters())  # tied weights once, as in select_parameters
        self.theta0 = {n: params[n].detach() for n in self.names}  # all that tau = theta - theta0 needs of the base
        self.ref = [model]  # in a list: not a submodule, so DDP and checkpoints see only the trainable copy

    def forward(self, input_ids, attention_mask, keep=None, need_ref=True):
        """(f0 or None, f_theta): (N, V) at the scored positions `keep`, (B, T, V) without."""
        f0 = None
        trunk = Trunk(self.policy, self.names, input_ids, attention_mask)  # the frozen bottom blocks, once for both
        if need_ref:
            with torch.no_grad():
                f0 = scored_logits(self.ref[0], input_ids, attention_mask, keep, trunk=trunk)
        return f0, scored_logits(self.policy, input_ids, attention_mask, keep, trunk=trunk)

    def drop_reference(self):
        """--precompute-ref: once the reference log-probs are cached the frozen model goes (theta0 stays)."""
        self.ref.clear()

    def task_vector(self):
        theta = dict(self.policy.named_parameters(remove_duplicate=False))
        return TaskVector({n: (theta[n] - t0).detach().clone() for n, t0 in self.theta0.items()})


def make_policy(mode, model, linearize=None):
    """TangentPolicy (TS-DPO) or StandardPolicy (DPO); either has .task_vector() -> TaskVector."""
    return {"tangent": TangentPolicy, "standard": StandardPolicy}[mode](model, linearize)


def policy_logps(policy, batch, ref_logps=None, average=False):
    """(pi_c, pi_r, ref_c, ref_r), each (B,), from ONE forward (one jvp) over the (2B, T) batch, chosen rows first.

    ref_logps (B, 2): cached reference log-probs [chosen, rejected]; the standard policy then skips its reference
    forward. average: per-token means (IPO; dpo_loss.length_normalized). Logits exist only at the N scored
    positions, (N, V): prompt, chat template and padding never reach the vocabulary-sized head (issue 14)."""
    n, keep = batch["input_ids"].shape[0] // 2, scored_positions(batch["labels"])
    f0, logits = policy(batch["input_ids"], batch["attention_mask"], keep=keep, need_ref=ref_logps is None)
    pi_c, pi_r = concatenated_logps(logits, batch["labels"], n, average)
    ref_c, ref_r = (ref_logps.unbind(1) if ref_logps is not None
                    else concatenated_logps(f0, batch["labels"], n, average))
    return pi_c, pi_r, ref_c.detach(), ref_r.detach()


# ----------------------------------------------------------------------------- pure helpers
def batch_indices(n, global_batch, step, seed):
    """Pair indices of optimizer step `step`: one permutation per epoch, a pure function of (seed, epoch)."""
    epoch, k = divmod(step, n // global_batch)
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch)).tolist()
    return perm[k * global_batch:(k + 1) * global_batch]


def lr_lambda(schedule, warmup, steps):
    """lr multiplier per step: 1) linear warmup, then 2) cosine to 10% of the peak (plumbing.checkpoints.warmup_cosine) or constant."""
    if schedule == "cosine":
        return lambda s: warmup_cosine(s, warmup, steps)
    return lambda s: (s + 1) / warmup if s < warmup else 1.0


# ----------------------------------------------------------------------------- the algorithm
def train(args, return_policy=False):
    """One run into args.out; returns the run folder (and the policy when return_policy). Bad input: ValueError."""
    # TRY NOT TO MODIFY: setup (DDP, inputs and their checks, optimizer, resume, config.json, reference cache)
    rank, world, device = setup_ddp(args.device)
    main, paths = rank == 0, {k: os.path.join(args.out, f) for k, f in FILES.items()}
    if is_finished(args, paths, main):
        return (args.out, None) if return_policy else args.out
    pairs, val, tokenizer, policy, base_fp = load_inputs(args, device)  # every input check, no file written
    tok_train, tok_val, collate = batching(args, tokenizer, pairs, val, device)
    gbs, accum, average = args.batch_size, args.grad_accum, length_normalized(args.loss)
    micro = gbs // (world * accum)
    steps = args.steps if args.steps else math.ceil(args.epochs * len(pairs) / gbs) if args.epochs else DEFAULT_STEPS
    trainable = [p for p in policy.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(trainable, lr=args.lr, weight_decay=args.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda(args.schedule, args.warmup_steps, steps))
    signature = {**{k: getattr(args, k) for k in ("mode", "objective", "weights", "seed", "batch_size", "lr", "beta",
                                                  "loss", "linearize", "data", "limit", "max_length", "correlation")},
                 "steps": steps, "base_fingerprint": base_fp}
    start, rows = resume(paths["checkpoint"], paths["metrics"], signature, trainable, opt, sched, main) \
        if args.resume else (0, [])
    config = start_run(args, paths, steps=steps, world_size=world, n_train_pairs=len(pairs), n_eval_pairs=len(tok_val),
                       base_fingerprint=base_fp) if main else None
    ref_cache, ref_val = reference_cache(args, policy, pairs, tokenizer, tok_train, tok_val, collate, steps,
                                         paths["ref"], main, world, base_fp, average) if args.precompute_ref else (None, None)
    ddp = torch.nn.parallel.DistributedDataParallel(policy) if world > 1 else policy
    fwd = torch.compile(ddp) if args.compile else ddp
    bar = tqdm(range(start, steps), initial=start, total=steps, disable=not main,
               desc=f"{args.mode} {args.objective or args.weights}")
    t_start, saved = time.time(), start or None
    with deferred_sigint() as asked:  # Ctrl-C stops the run between two steps, where its state is whole
        for step in bar:
            if asked(world, device):
                stop_at(step, saved, paths["checkpoint"], signature, trainable, opt, sched, main)
            # ALGO LOGIC: one optimizer step of (TS-)DPO on the global batch, one jvp per micro-batch
            t0, stats, n_tokens = time.time(), [], 0
            mine = batch_indices(len(pairs), gbs, step, args.seed)[rank * gbs // world:(rank + 1) * gbs // world]
            for m in range(accum):
                chunk = mine[m * micro:(m + 1) * micro]
                batch = collate([tok_train(i) for i in chunk])  # (2B, T): prompt+chosen rows, then prompt+rejected
                ref = None if ref_cache is None else ref_cache[chunk].to(device)
                # DDP all-reduces gradients only on the last micro-batch of the step
                with ddp.no_sync() if world > 1 and m < accum - 1 else contextlib.nullcontext():
                    # one jvp: f0 (reference) and f_lin = f0 + J tau -> four log-prob vectors, each (B,)
                    pi_c, pi_r, ref_c, ref_r = policy_logps(fwd, batch, ref, average)
                    losses, r_c, r_r = preference_loss(pi_c, pi_r, ref_c, ref_r, args.beta, args.loss,
                                                       args.label_smoothing)
                    (losses.sum() * world / gbs).backward()  # DDP averages over ranks: the mean over the global batch
                stats.append(torch.stack([losses.detach(), r_c, r_r, pi_c.detach(), pi_r.detach()]).float())
                n_tokens += int(batch["attention_mask"].sum())
            stats = gather(torch.cat(stats, 1), world)
            grad_norm = float(torch.nn.utils.clip_grad_norm_(trainable, args.max_grad_norm))
            lr = sched.get_last_lr()[0]
            check_finite(stats, grad_norm, step, lr, paths["checkpoint"], saved)  # the NaN guard
            opt.step(), sched.step(), opt.zero_grad(set_to_none=True)

            # TRY NOT TO MODIFY: metrics, held-out evaluation and checkpoints
            row = {"step": step + 1, **dpo_metrics(*stats), "grad_norm": grad_norm, "lr": lr,
                   "tokens_per_s": n_tokens * world / (time.time() - t0)}
            if main:
                log_step(args, rows, row, steps, bar, paths["metrics"],
                         lambda: held_out_metrics(policy, tok_val, collate, args.beta, args.loss, args.label_smoothing,
                                          args.eval_batch_size, average, ref_val))
            if (step + 1) % args.save_every == 0 and step + 1 < steps:
                if main:
                    save_checkpoint(paths["checkpoint"], step + 1, signature, trainable, opt, sched)
                saved = step + 1
    if main:
        finish(args, policy, rows, paths, config, steps, base_fp, time.time() - t_start)
    if world > 1:
        dist.barrier()
    return (args.out, policy) if return_policy else args.out


# ----------------------------------------------------------------------------- evaluation
@torch.no_grad()
def held_out_metrics(policy, items, collate, beta, loss, smoothing, batch_size, average=False, ref=None):
    """TRL metrics over held-out pairs, keys prefixed eval/. ref (N, 2): their cached log pi_0 (--precompute-ref)."""
    out = []
    for s in range(0, len(items), batch_size):
        b = collate(items[s:s + batch_size])
        r = None if ref is None else ref[s:s + batch_size].to(b["input_ids"].device)
        pc, pr, rc, rr = policy_logps(policy, b, r, average)
        out.append(torch.stack([*preference_loss(pc, pr, rc, rr, beta, loss, smoothing), pc, pr]).float())
    return {"eval/" + k: v for k, v in dpo_metrics(*torch.cat(out, 1)).items()}


@torch.no_grad()
def reference_logps(model, items, collate, batch_size, average=False):
    """log pi_0 of every pair (N, 2) [chosen, rejected] under the frozen reference: one pass, scored logits only."""
    out = []
    for s in range(0, len(items), batch_size):
        b = collate(items[s:s + batch_size])
        f0 = scored_logits(model, b["input_ids"], b["attention_mask"], scored_positions(b["labels"]))  # (N, V)
        out.append(torch.stack(concatenated_logps(f0, b["labels"], len(b["input_ids"]) // 2, average), 1).float().cpu())
    return torch.cat(out)


# ----------------------------------------------------------------------------- plumbing: setup and inputs
def setup_ddp(device_flag):
    """(rank, world, device): one process, or one rank of torchrun (nccl on cuda, gloo on cpu)."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device_flag == "cuda" else "gloo")
    rank, world = (dist.get_rank(), dist.get_world_size()) if dist.is_initialized() else (0, 1)
    return rank, world, f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}" if device_flag == "cuda" else "cpu"


def is_finished(args, paths, main):
    """True when --out holds this finished run (reused unless --force). Refused: a folder that is not a run of ours
    (a model folder too), a finished run of other flags, an unfinished run's checkpoint without --resume or --force."""
    # check_out knows a run by its config.json: a corrupt one is said first, with the only way out
    fix = f"delete {args.out} and train again, or pass another --out"
    cfg = read_json(paths["config"], fix=fix) if os.path.exists(paths["config"]) else {}
    check_out(args.out, kind="run")
    if args.force:
        return False
    if cfg.get("finished") and os.path.exists(paths["vector"]):
        differ = changed_flags(cfg, args)
        if differ:
            raise ValueError(f"--out {args.out}: holds a finished run of other flags: {', '.join(differ)}; pass "
                             f"--force to retrain it there, or another --out")
        if main:
            print(f"train_tangent.py: {args.out} is finished, skipping (pass --force to retrain); "
                  f"task vector: {paths['vector']}")
        return True
    if os.path.exists(paths["checkpoint"]) and not args.resume:
        raise ValueError(f"--out {args.out}: holds the checkpoint of an unfinished run; pass --resume to continue it "
                         f"or --force to start over")
    return False


def changed_flags(cfg, args):
    """'--flag new (the run: old)' for each RESULT_FLAGS entry that differs from the finished run's config.json."""
    new = {k: getattr(args, k) for k in RESULT_FLAGS}
    if args.epochs is None:  # config.json holds the resolved step count
        new["steps"] = args.steps or DEFAULT_STEPS
    else:
        new.pop("steps")
    show = lambda v: "unset" if v is None else v
    return [f"--{k.replace('_', '-')} {show(v)} (the run: {show(cfg.get(k))})" for k, v in new.items()
            if cfg.get(k) != v]


def load_inputs(args, device):
    """(train pairs, held-out pairs, tokenizer, policy, base fingerprint), refusing what cannot make one step.

    Only the policy keeps theta0: with --precompute-ref the frozen model can then be freed once the cache is built."""
    from base_model import check_text_form  # lazily: training needs none of the base's own training code
    check_text_form(args.base, args.data)  # toy text in the base's own form (plain | natural)
    pairs, val = (data.load_pairs(args.data, args.objective, args.weights, split, args.limit, args.data_seed,
                                  correlation=args.correlation) for split in ("train", "validation"))
    if len(pairs) < args.batch_size:
        raise ValueError(f"--data {args.data}: the train split has {len(pairs)} pairs, fewer than one --batch-size "
                         f"({args.batch_size}); lower --batch-size or give more data")
    if not val:
        raise ValueError(f"--data {args.data}: the validation split has no pairs; give more data (more prompts)")
    model = load_model(args.base, device, DTYPES[args.dtype])
    positions = getattr(model.config, "max_position_embeddings", None)  # GPT-2's n_positions answers to it too
    if positions and args.max_length > positions:  # longer rows would end in an IndexError mid-run
        raise ValueError(f"--max-length {args.max_length} > the base's {positions} positions ({args.base}); "
                         f"pass --max-length {positions} or less")
    return pairs, val, load_tokenizer(args.base), make_policy(args.mode, model, args.linearize), fingerprint(model)


def batching(args, tokenizer, pairs, val, device):
    """tok_train(i) (memoized), the tokenized held-out subset, and collate(items) -> (2B, T) tensors on device."""
    # tokenize lazily (memoized): a short run visits a few thousand of the tens of thousands of toy pairs
    tok_train = functools.cache(lambda i: data.tokenize_pair(tokenizer, pairs[i], args.max_length))
    random.Random(0).shuffle(val)  # a fixed, prompt-diverse held-out subset
    tok_val = data.tokenize_pairs(tokenizer, val[:args.eval_pairs], args.max_length)
    pad, pad_to = tokenizer.pad_token_id, args.max_length if args.compile else None  # fixed shapes: compile once
    collate = lambda items: {k: v.to(device) for k, v in data.collate_pairs(items, pad, pad_to).items()}
    return tok_train, tok_val, collate


def start_run(args, paths, **facts):
    """config.json with finished=false, once every input check passed; a stale task vector (and, when not resuming,
    a stale checkpoint) goes."""
    os.makedirs(args.out, exist_ok=True)
    base_cfg = os.path.join(args.base, "train_config.json")  # base_model.py's: the seed theta0 was trained with
    seed = read_json(base_cfg).get("seed") if os.path.isfile(base_cfg) else None  # None: a base made elsewhere
    config = {**vars(args), **facts, "base_seed": seed, **run_info(), "finished": False}
    write_json(paths["config"], config)
    for old in [paths["vector"]] + ([] if args.resume else [paths["checkpoint"]]):  # --force: not this config's
        if os.path.exists(old):
            os.remove(old)
    return config


def reference_cache(args, policy, pairs, tokenizer, tok_train, tok_val, collate, steps, path, main, world, base_fp,
                    average):
    """(train (N, 2), held-out (M, 2) on rank 0) log pi_0 [chosen, rejected]; then the reference model is freed.

    The train rows live in ref_logps.pt (NaN = never visited, not computed); its key names everything the numbers
    depend on: the base, the pairs' texts (not the data's name: a file edited in place changes them), the tokenizer,
    the log-prob kind (averages for IPO). The held-out rows are recomputed at every start."""
    backend = getattr(tokenizer, "backend_tokenizer", None)  # vocabulary, merges, normalizer: all of it as JSON
    vocab = backend.to_str() if backend else json.dumps(sorted(tokenizer.get_vocab().items()))
    digest = lambda obj: hashlib.sha256(json.dumps(obj).encode()).hexdigest()[:16]
    key = {"fingerprint": base_fp, "max_length": args.max_length, "n": len(pairs), "logps": "average" if average else
           "sum", "pairs": digest([[p["prompt"], p["chosen"], p["rejected"]] for p in pairs]),
           "tokenizer": digest([vocab, str(getattr(tokenizer, "chat_template", None)), tokenizer.eos_token_id])}
    try:
        cache = torch.load(path, weights_only=True) if os.path.exists(path) else {}
    except Exception:  # truncated, not ours, pickled: a cache that cannot be read is recomputed
        cache = {}
    if not isinstance(cache, dict) or cache.get("key") != key:
        cache = {"key": key, "logps": torch.full((len(pairs), 2), float("nan"))}
    need = sorted({i for s in range(steps) for i in batch_indices(len(pairs), args.batch_size, s, args.seed)})
    need = [i for i in need if torch.isnan(cache["logps"][i]).any()]
    model = policy.ref[0]
    if main and need:
        cache["logps"][need] = reference_logps(model, [tok_train(i) for i in need], collate, args.eval_batch_size,
                                               average)
        atomic_write(path, lambda tmp: torch.save(cache, tmp))
    held_out = reference_logps(model, tok_val, collate, args.eval_batch_size, average) if main else None
    if world > 1:
        dist.barrier()
        cache = torch.load(path, weights_only=True)
    policy.drop_reference()  # as TRL does: every reference number the run needs is cached now
    return cache["logps"], held_out


# ----------------------------------------------------------------------------- plumbing: during and after the loop
def gather(stats, world):
    """(5, B) per-pair stats of this rank -> (5, global B) of all ranks, so rank 0 logs the whole batch."""
    if world == 1:
        return stats
    parts = [torch.empty_like(stats) for _ in range(world)]
    dist.all_gather(parts, stats)
    return torch.cat(parts, 1)


def check_finite(stats, grad_norm, step, lr, ck_path, saved):
    """The NaN guard: stop before a non-finite update reaches tau or a checkpoint."""
    if torch.isfinite(stats[0]).all() and math.isfinite(grad_norm):
        return
    kept = f"the last good checkpoint is step {saved} in {ck_path}" if saved else "no checkpoint was written yet"
    raise ValueError(f"non-finite loss/grad at step {step + 1} (lr {lr:g}); the run stopped, {kept}; "
                     f"lower --lr or check the data")


@contextlib.contextmanager
def deferred_sigint():
    """Within, the first Ctrl-C only raises a flag that asked(world, device) reads between steps (any rank's, under
    DDP, so all ranks stop at the same step); a second Ctrl-C stops at once, mid-step."""
    got = []

    def handler(signum, frame):
        if got:
            raise KeyboardInterrupt("interrupted twice, mid-step; rerun with --resume if --out holds a checkpoint")
        got.append(signum)

    def asked(world, device):
        flag = torch.tensor([float(bool(got))], device=device)
        if world > 1:  # any rank's Ctrl-C: every rank stops at the same step
            dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return bool(flag)

    try:
        old = signal.signal(signal.SIGINT, handler)
    except ValueError:  # not the main thread: Ctrl-C keeps its default
        old = None
    try:
        yield asked
    finally:
        if old is not None:
            signal.signal(signal.SIGINT, old)


def stop_at(done, saved, ck_path, signature, trainable, opt, sched, main):
    """Ctrl-C between steps: checkpoint the `done` finished steps (unless saved already), then KeyboardInterrupt with
    the one line main() prints."""
    if main and done > (saved or 0):
        save_checkpoint(ck_path, done, signature, trainable, opt, sched)
    where = f"checkpoint at {ck_path}: rerun with --resume" if done else "no step finished: rerun to start over"
    raise KeyboardInterrupt(f"interrupted at step {done}; {where}")


def log_step(args, rows, row, steps, bar, path, evaluate_now):
    """Append the step's row (and a held-out row every --eval-every steps) to metrics.jsonl."""
    rows.append(row)
    bar.set_postfix(loss=f"{row['loss']:.3f}", acc=f"{row['rewards/accuracies']:.2f}")
    if row["step"] % args.eval_every == 0 or row["step"] == steps:
        rows.append({"step": row["step"], **evaluate_now()})
        bar.write(f"step {row['step']}: eval loss {rows[-1]['eval/loss']:.4f}, "
                  f"acc {rows[-1]['eval/rewards/accuracies']:.3f}")
    write_jsonl(path, rows)


def finish(args, policy, rows, paths, config, steps, base_fp, seconds):
    """tau (+ metadata) and the curves, then config.json says finished: the last file written."""
    meta = {"mode": args.mode, "objective": args.objective or "", "weights": args.weights or "",
            "beta": args.beta, "loss": args.loss, "label_smoothing": args.label_smoothing, "steps": steps,
            "lr": args.lr, "linearize": args.linearize or "", "seed": args.seed, "data": args.data,
            "base": args.base, "base_fingerprint": base_fp}
    policy.task_vector().save(paths["vector"], meta)
    plot_curves(rows, paths["curves"])
    config.update(finished=True, train_seconds=round(seconds, 1))
    write_json(paths["config"], config)
    print(f"train_tangent.py: {args.out} finished; task vector: {paths['vector']}")


# ----------------------------------------------------------------------------- flags
def parse_args(argv=None):
    count, number = positive(int), positive(float)
    p = Parser(description=__doc__.split("\n\n")[0])
    p.add_argument("--mode", default="tangent", choices=["tangent", "standard"], help="TS-DPO or plain DPO")
    p.add_argument("--objective", default=None, help="attribute to raise (toy: helpfulness | verbosity | safety)")
    p.add_argument("--weights", default=None, help="scalarized objective, e.g. helpfulness=0.7,verbosity=-0.3")
    p.add_argument("--base", default="runs/base", help="theta0: HF folder or hub id (cached)")
    p.add_argument("--data", default="toy", help="toy | toy:natural (ordinary English) | a hub name known to data.py | a local .jsonl/.parquet")
    p.add_argument("--limit", type=count, default=None, help="read at most this many source rows")
    p.add_argument("--data-seed", type=int, default=0, help="toy world + split seed (same for every run)")
    p.add_argument("--correlation", type=correlation_flag(), default=None,
                   help=f"toy world: helpfulness-verbosity correlation of the labels (default {DEFAULT_CORRELATION})")
    p.add_argument("--beta", type=number, default=0.1)
    p.add_argument("--loss", default="sigmoid", choices=list(LOSSES), help="ipo uses per-token average log-probs")
    p.add_argument("--label-smoothing", type=in_range(0, 0.5, hi_open=True), default=0.0, help="cDPO flip rate")
    p.add_argument("--lr", type=number, default=None, help=f"peak AdamW lr (default {DEFAULT_LR})")
    p.add_argument("--weight-decay", type=positive(float, allow_zero=True), default=0.0,
                   help="0: decay would pull theta to 0, not theta0")
    p.add_argument("--schedule", default="cosine", choices=["cosine", "constant"])
    p.add_argument("--warmup-steps", type=positive(int, allow_zero=True), default=10)
    p.add_argument("--max-grad-norm", type=number, default=1.0)
    p.add_argument("--steps", type=count, default=None, help=f"optimizer steps (default {DEFAULT_STEPS})")
    p.add_argument("--epochs", type=number, default=None, help="instead of --steps: passes over the train pairs")
    p.add_argument("--batch-size", type=count, default=8, help="global pairs per optimizer step")
    p.add_argument("--grad-accum", type=count, default=1, help="micro-batches per rank per step")
    p.add_argument("--max-length", type=in_range(2, math.inf, int), default=128,
                   help="tokens of prompt + response (data.tokenize_pair truncation; >= 2: one of each)")
    p.add_argument("--linearize", default=None, help="regex on parameter names that move (default: all)")
    p.add_argument("--seed", type=int, default=0, help="data order")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--dtype", default="fp32", choices=list(DTYPES), help="bf16 can swallow small J tau")
    p.add_argument("--eval-every", type=count, default=60, help="held-out metrics every N steps (and at the end)")
    p.add_argument("--eval-pairs", type=count, default=128, help="held-out (validation) pairs per evaluation")
    p.add_argument("--eval-batch-size", type=count, default=32)
    p.add_argument("--save-every", type=count, default=60, help="checkpoint every N steps")
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
    bad = [n for n in names if n not in ATTRIBUTES]
    try:
        toy = data.toy_text(a.data)  # "plain" | "natural" for the toy world, None for any other source
    except ValueError as e:
        p.error(str(e))
    if toy and bad:
        p.error(f"unknown objective {bad[0]!r} for --data {a.data}; use one of {', '.join(ATTRIBUTES)}")
    if a.correlation is not None and not toy:
        p.error(f"--correlation is a knob of the toy world; drop it for --data {a.data}")
    a.correlation = DEFAULT_CORRELATION if toy and a.correlation is None else a.correlation
    if a.loss == "cdpo" and not 0 < a.label_smoothing < 0.5:
        p.error("--loss cdpo needs 0 < --label-smoothing < 0.5")
    try:
        re.compile(a.linearize or "")
    except re.error as e:
        p.error(f"--linearize {a.linearize!r}: not a valid regex ({e}); fix the pattern")
    world = int(os.environ.get("WORLD_SIZE", "1"))  # torchrun's rank count
    if a.batch_size % (world * a.grad_accum):
        p.error(f"--batch-size {a.batch_size} must be divisible by ranks x --grad-accum ({world} x {a.grad_accum})")
    if a.precompute_ref and a.mode == "tangent":
        p.error("--precompute-ref is for --mode standard; in tangent mode the reference is the jvp's free primal")
    if a.steps is not None and a.epochs is not None:
        p.error("give --steps or --epochs, not both")
    if a.device == "cuda" and not torch.cuda.is_available():
        p.error("--device cuda: no CUDA device visible; use --device cpu")
    a.lr = DEFAULT_LR[a.mode] if a.lr is None else a.lr
    a.out = a.out or default_out(a.mode, a.objective, a.weights)
    return a


def main(argv=None):
    try:
        train(parse_args(argv))
    except KeyboardInterrupt as e:  # Ctrl-C: one line and the shell's exit code for it, never a traceback
        print(f"train_tangent.py: {e or 'interrupted'}", file=sys.stderr)
        raise SystemExit(130) from None


if __name__ == "__main__":
    run_cli(main)
