"""What a training loop needs to stop and go on: bit-exact checkpoints, and the lr schedule.

A checkpoint.pt holds tensors and plain types only, so torch.load(weights_only=True) reads it (no pickle).
"""
import json
import math
import os
import random

import torch

from plumbing.run_folder import atomic_write


def save_checkpoint(path, step, signature, trainable, opt, sched):
    """Everything a bit-exact resume needs, as tensors and plain types: torch.load(weights_only=True) reads it."""
    version, internal, gauss = random.getstate()
    ck = {"step": step, "signature": signature, "trainable": [p.detach().clone() for p in trainable],
          "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
          "rng": {"torch": torch.get_rng_state(), "python": [version, list(internal), gauss]}}
    atomic_write(path, lambda tmp: torch.save(ck, tmp))


def resume(path, metrics_path, signature, trainable, opt, sched, main=True):
    """(start step, metric rows so far) from checkpoint.pt, restored in place; (0, []) when there is none."""
    if not os.path.exists(path):
        if main:
            print(f"no checkpoint in {os.path.dirname(path)}; starting from step 0")
        return 0, []
    fix = f"delete {path} to restart from step 0 (or drop --resume)"
    try:
        ck = torch.load(path, weights_only=True)
        saved, start, (version, internal, gauss) = dict(ck["signature"]), int(ck["step"]), ck["rng"]["python"]
    except Exception as e:  # truncated zip, not a checkpoint, pickled objects: to the user all mean the same
        raise ValueError(f"{path}: cannot read the checkpoint ({type(e).__name__}); it is corrupt: {fix}") from None
    if saved != signature:
        diff = next(k for k in signature if saved.get(k) != signature[k])
        raise ValueError(f"--resume: {path} was written with {diff}={saved.get(diff)!r}, not {signature[diff]!r}; "
                         f"use the same flags or drop --resume")
    with torch.no_grad():  # same flags and base: the tensors fit
        for p, t in zip(trainable, ck["trainable"], strict=True):
            p.copy_(t)
    opt.load_state_dict(ck["optimizer"]), sched.load_state_dict(ck["scheduler"])
    torch.set_rng_state(ck["rng"]["torch"]), random.setstate((version, tuple(internal), gauss))
    try:
        lines = open(metrics_path).read().splitlines() if os.path.exists(metrics_path) else []
        rows = [r for r in map(json.loads, filter(str.strip, lines)) if r["step"] <= start]
    except (ValueError, KeyError, TypeError):
        raise ValueError(f"{metrics_path}: not valid metric rows; delete it (the curves then start at step "
                         f"{start}) and rerun with --resume") from None
    return start, rows


# ----------------------------------------------------------------------------- the lr schedule
def warmup_cosine(step, warmup, steps, floor=0.1, peak=1.0):
    """lr at optimizer step `step` (0-based), as a fraction of `peak` (or in lr units with peak=lr):
    1) linear warmup: peak * (step + 1) / warmup for the first `warmup` steps;
    2) cosine decay from peak to floor * peak over the remaining steps."""
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, steps - warmup)
    return peak * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress)))


