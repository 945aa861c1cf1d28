"""Scoring a response: the toy oracle, its word count, a Hugging Face reward model, or your own function (--scorer).

    score(x, y) -> {attribute: float, ..., "well_formed": 0 or 1}

`--scorer toy | length | hf:<reward-model> | module:function`, comma-joined, later parts overriding earlier ones:
`toy` is toyworld.score (exact, 0-4 per attribute), `length` sets verbosity to the word count, `hf:<model>` reads a
sequence-classification reward model's logits by its id2label names (a single logit scores the maximized
objective), and `module:function` (e.g. `myscorer:score`, the module found in the current directory too) calls
your `function(prompt, response) -> {attribute: number}`: how a new attribute (a forked objective) gets scored.
--maximize and --minimize must each be given by some part; evaluate.py refuses up front otherwise. One convention
matters for every front: the toy oracle gives a malformed response 0 everywhere, and 0
is the BEST value of a minimized attribute, so broken text would look perfectly concise. Here a malformed response
is the worst on every axis: 0 on a maximized attribute, the top of the scale (4) on the minimized one.

    python evaluate.py --scorer toy                      # the default
    python evaluate.py --scorer hf:<reward-model>,length # RM for helpfulness, words for verbosity
    python evaluate.py --scorer myscorer:score --maximize politeness   # myscorer.py: def score(prompt, response)
"""
import argparse
import importlib
import os
import re
import sys

import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

import toyworld

KINDS = "toy, length, hf:<reward-model> or module:function"
PROBE = ("hi , what should i know about cats ?", " cats sleep a lot .")  # one response every scorer is asked about


def scorer_spec(spec):
    """argparse type: 'toy,hf:<model>' passes; an unknown part, or a module:function that does not load, is a usage
    error naming --scorer."""
    for part in [x.strip() for x in spec.split(",") if x.strip()] or [""]:
        if ":" in part and not part.startswith("hf:"):
            try:
                load_function(part)
            except ValueError as e:
                raise argparse.ArgumentTypeError(str(e).removeprefix("--scorer ")) from None
        elif part not in ("toy", "length") and not (part.startswith("hf:") and part[3:].strip()):
            raise argparse.ArgumentTypeError(f"unknown part {part!r} in {spec!r}; use {KINDS}")
    return spec


def load_function(part):
    """'mypkg.myscorer:score' -> that function, its module imported from the current directory too; a bad spec is one
    ValueError naming --scorer."""
    module, _, name = part.partition(":")
    if not re.fullmatch(r"[A-Za-z_][\w.]*", module) or not re.fullmatch(r"[A-Za-z_]\w*", name):
        raise ValueError(f"--scorer {part}: not a module:function, e.g. myscorer:score (myscorer.py, def score)")
    sys.path.insert(0, os.getcwd())
    try:
        mod = importlib.import_module(module)
    except Exception as e:  # not found, or the module itself fails: either way one line
        raise ValueError(f"--scorer {part}: cannot import {module} ({type(e).__name__}: {e}); put "
                         f"{module.replace('.', '/')}.py in the current directory or on PYTHONPATH") from None
    finally:
        sys.path.remove(os.getcwd())
    fn = getattr(mod, name, None)
    if fn is None:
        raise ValueError(f"--scorer {part}: {module} has no {name!r}; define def {name}(prompt, response) -> dict in "
                         f"{getattr(mod, '__file__', module)}")
    if not callable(fn):
        raise ValueError(f"--scorer {part}: {module}.{name} is a {type(fn).__name__}, not a function; give "
                         f"def {name}(prompt, response) -> dict of attribute -> number")
    return fn


def call_function(part, fn, prompt, response):
    """fn(prompt, response) as {attribute: float}; anything but a dict of numbers is one ValueError naming --scorer."""
    got = fn(prompt, response)
    try:
        if not isinstance(got, dict):
            raise TypeError
        return {str(k): float(v) for k, v in got.items()}
    except (TypeError, ValueError):
        raise ValueError(f"--scorer {part}: returned {got!r:.60}, not a dict of attribute -> number; return e.g. "
                         "{'politeness': 3.0}") from None


class Scorer:
    """--scorer toy | length | hf:<model> | module:function, comma-joined (later ones override): response ->
    {attribute: float}; one that gives no --maximize or --minimize attribute is refused when built.

    Every response also gets well_formed (toy: toyworld.is_well_formed; otherwise non-empty). The toy oracle
    gives a malformed response 0 on every attribute; on a MINIMIZED attribute 0 is the best value, so broken
    text would look perfectly concise. Here a malformed response is the worst on every axis instead: 0 on a
    maximized attribute, 4 (the top of the scale) on the minimized one."""

    def __init__(self, spec, maximize, device="cpu", minimize=None):
        self.parts, self.maximize, self.minimize = [s.strip() for s in spec.split(",") if s.strip()], maximize, minimize
        self.hf, self.fn = {}, {}
        for part in self.parts:
            if part.startswith("hf:"):
                rm = AutoModelForSequenceClassification.from_pretrained(part[3:]).to(device).eval()
                self.hf[part] = (AutoTokenizer.from_pretrained(part[3:]), rm, device)
            elif ":" in part:
                self.fn[part] = load_function(part)
        given = set(self([PROBE[0]], [PROBE[1]])[0]) - {"well_formed"}  # up front, not after generating
        for flag, name in (("--maximize", maximize), ("--minimize", minimize)):
            if name is not None and name not in given:
                raise ValueError(f"{flag} {name}: --scorer {spec} gives no {name!r} (it gives "
                                 f"{', '.join(sorted(given)) or 'nothing'}); write def score(prompt, response) -> "
                                 f"{{{name!r}: number}} in a file and pass --scorer file:score (module:function)")

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
            elif part in self.fn:
                for o, p, r in zip(out, prompts, responses):
                    o.update(call_function(part, self.fn[part], p, r))
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
