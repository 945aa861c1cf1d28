"""Scoring a response: the toy oracle, its word count, or a Hugging Face reward model (--scorer).

    score(x, y) -> {attribute: float, ..., "well_formed": 0 or 1}

`--scorer toy | length | hf:<reward-model>`, comma-joined, later parts overriding earlier ones: `toy` is
toyworld.score (exact, 0-4 per attribute), `length` sets verbosity to the word count, `hf:<model>` reads a
sequence-classification reward model's logits by its id2label names (a single logit scores the maximized
objective). One convention matters for every front: the toy oracle gives a malformed response 0 everywhere, and 0
is the BEST value of a minimized attribute, so broken text would look perfectly concise. Here a malformed response
is the worst on every axis: 0 on a maximized attribute, the top of the scale (4) on the minimized one.

    python evaluate.py --scorer toy                      # the default
    python evaluate.py --scorer hf:<reward-model>,length # RM for helpfulness, words for verbosity
"""
import argparse

import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

import toyworld


def scorer_spec(spec):
    """argparse type: 'toy,hf:<model>' passes; an unknown part is a usage error naming --scorer."""
    for part in [x.strip() for x in spec.split(",") if x.strip()] or [""]:
        if part not in ("toy", "length") and not (part.startswith("hf:") and part[3:].strip()):
            raise argparse.ArgumentTypeError(f"unknown part {part!r} in {spec!r}; use toy, length or hf:<reward-model>")
    return spec


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
