"""Preference data: rated rows -> pairs -> prompt-level splits -> tokens -> (2B, T) batches.

Two formats carry everything:
  rated row  {"prompt", "response", <attribute>: number 0-4, ...}      (shaped like nvidia/HelpSteer)
  pair       {"prompt", "chosen", "rejected", "objective"}              (shaped like TRL's preference format)
A rated row's attributes are the columns asked for, the known ones and those holding only 0-4 numbers
(hub_data.rating_columns); other columns (ids, timestamps, scores on other scales) are ignored, with a note.
TRL's conversational pairs (message lists) become pairs: prompt = the shared turns, responses = the last turns.
From rated rows, every two responses to one prompt whose score s differs make a pair, the higher chosen,
ties dropped; s = the attribute (objective) or s = sum_a w_a * attribute_a (scalarized weights).
Controlled pairs (control="verbosity"): only the pairs whose two rows have EQUAL labels on the control
attribute, e.g. helpfulness pairs at equal verbosity: they differ in the objective alone (rated rows only).
A pair whose chosen text equals its rejected text teaches nothing (its DPO gradient is zero, so the
optimizer only amplifies float noise): load_pairs drops it from every source and says how many.

Splits ("train" | "validation" | "test"): u = sha256(seed, prompt) in [0, 1) puts a prompt in train
(u < 0.8), validation (< 0.9) or test, so no prompt is in two splits and the split of a prompt never
depends on the others; "all" = everything; "hub:<name>" = that hub split as is. A split left with no
pairs is refused with one line naming the source and the split.

Tokens: prompt (chat template if the tokenizer has one) and responses are tokenized apart, responses end
with eos; too long -> the prompt is cut from the LEFT to max_prompt_length, then responses from the right.
A batch is (2B, T): rows [0:B] prompt+chosen, [B:2B] prompt+rejected, right-padded, labels -100 on
prompt and padding.

Sources (`source=`): "toy" (toyworld.make_rows; correlation= is its helpfulness-verbosity knob; "toy:natural"
the same rows as ordinary English, for a pretrained tokenizer), or a
local .jsonl/.json/.parquet file or a hub name (nvidia/HelpSteer, openbmb/UltraFeedback,
PKU-Alignment/PKU-SafeRLHF, Anthropic/hh-rlhf[:data_dir]): plumbing/hub_data.py reads those and maps each shape to
the two formats above.

Run:
  python data.py --data toy --objective helpfulness
  python data.py --data toy --objective helpfulness --control verbosity --correlation 0.5
  python data.py --data toy --weights helpfulness=0.7,verbosity=-0.3
  python data.py --data my_pairs.jsonl --objective safety
"""
import argparse
import hashlib
import itertools
import json
import math
import sys

import toyworld
from plumbing.cli import Parser, positive, run_cli

TOY_PROMPTS, TOY_RESPONSES = 2000, 4
SPLITS, FRACTIONS = ("train", "validation", "test"), (0.8, 0.1, 0.1)


# ----------------------------------------------------------------------------- rated rows -> pairs (pure)
def parse_weights(text):
    """"helpfulness=0.7,verbosity=-0.3" -> {"helpfulness": 0.7, "verbosity": -0.3}; a dict passes through."""
    if isinstance(text, dict):
        return {str(k): float(v) for k, v in text.items()}
    out = {}
    for part in str(text).split(","):
        name, eq, val = (s.strip() for s in part.partition("="))
        try:
            v = float(val)
        except ValueError:
            v = math.nan
        if not eq or not name or not math.isfinite(v) or name in out:
            raise ValueError(f"weights {text!r}: cannot parse {part.strip()!r}; write name=number pairs separated "
                             "by commas, e.g. helpfulness=0.7,verbosity=-0.3")
        out[name] = v
    return out


def weights_label(weights):
    """Canonical objective label of a weighting: names sorted, numbers in %g."""
    return ",".join(f"{k}={v:g}" for k, v in sorted(parse_weights(weights).items()))


def make_pairs(rows, objective=None, weights=None, max_pairs_per_prompt=None, control=None):
    """Every two responses to one prompt whose score differs -> a pair, higher chosen; ties and None skipped.

    score = row[objective] or sum_a weights[a] * row[a]. Order: prompts by first appearance, then (i, j) with
    i < j in row order. max_pairs_per_prompt keeps the pairs with the largest score gap (ties by that order).
    control = an attribute name (or several): keep only the pairs whose two rows have EQUAL labels on it
    (controlled pairs, e.g. helpfulness pairs at equal verbosity), before max_pairs_per_prompt.
    Two rows with the same response text but different scores do make a pair here; load_pairs drops it.
    """
    if (objective is None) == (weights is None):
        raise ValueError("make_pairs: give exactly one of objective=NAME or weights='a=0.7,b=-0.3'")
    w = {objective: 1.0} if objective is not None else parse_weights(weights)
    label = objective if objective is not None else weights_label(w)
    held = control_attributes(control)
    present = [k for k in rows[0] if k not in ("prompt", "response")] if rows else []
    unknown = [a for a in (*w, *held) if a not in present]
    if rows and unknown:
        what = f"objective {label!r}" if unknown[0] in w else "control"
        raise ValueError(f"unknown attribute {unknown[0]!r} in {what}; attributes present: {', '.join(present)}")
    if held and all(a in held for a, c in w.items() if c != 0):
        raise ValueError(f"control {','.join(held)}: holding the objective {label!r} fixed leaves no pairs; "
                         "control another attribute")
    groups = {}
    for r in rows:
        if any(r[a] is None for a in (*w, *held)):  # UltraFeedback "N/A": no rating, so no preference on it
            continue
        groups.setdefault(r["prompt"], []).append((sum(c * r[a] for a, c in w.items()), r["response"],
                                                   tuple(r[a] for a in held)))
    pairs = []
    for prompt, items in groups.items():
        cand = [(abs(si - sj), *((ri, rj) if si > sj else (rj, ri)))  # (gap, chosen, rejected)
                for (si, ri, hi), (sj, rj, hj) in itertools.combinations(items, 2)
                if not math.isclose(si, sj, abs_tol=1e-9) and hi == hj]
        if max_pairs_per_prompt is not None and len(cand) > max_pairs_per_prompt:
            keep = sorted(sorted(range(len(cand)), key=lambda k: -cand[k][0])[:max_pairs_per_prompt])
            cand = [cand[k] for k in keep]
        pairs += [{"prompt": prompt, "chosen": c, "rejected": rj, "objective": label} for _, c, rj in cand]
    return pairs


def control_attributes(control):
    """control= as a tuple of attribute names: None -> (), "verbosity" -> ("verbosity",), a list -> a tuple."""
    if control is None:
        return ()
    held = (control,) if isinstance(control, str) else tuple(control)
    if not held or not all(isinstance(a, str) and a for a in held):
        raise ValueError(f"control {control!r}: give an attribute name, e.g. control='verbosity'")
    return held


def drop_identical(pairs):
    """(the pairs whose chosen text differs from the rejected text, how many were dropped); order kept."""
    kept = [p for p in pairs if p["chosen"] != p["rejected"]]
    return kept, len(pairs) - len(kept)


# ----------------------------------------------------------------------------- splits (pure)
def split_by_prompt(items, fractions=FRACTIONS, seed=0):
    """(train, val, test) by u = sha256(seed, prompt) in [0, 1): a prompt's items always share one split."""
    total = sum(fractions)
    e1, e2 = fractions[0] / total, (fractions[0] + fractions[1]) / total
    out = ([], [], [])
    for it in items:
        u = int(hashlib.sha256(f"{seed}\0{it['prompt']}".encode()).hexdigest()[:15], 16) / 16 ** 15
        out[0 if u < e1 else 1 if u < e2 else 2].append(it)
    return out


def choose_split(items, split, seed=0):
    """The items of one split: train | validation (or val) | test by prompt; all and hub:<name> keep everything."""
    if split == "all" or split.startswith("hub:"):
        return items
    split = "validation" if split == "val" else split
    if split not in SPLITS:
        raise ValueError(f"split {split!r}: use train, validation, test, all or hub:<hub split name>")
    return split_by_prompt(items, seed=seed)[SPLITS.index(split)]


# ----------------------------------------------------------------------------- tokens and batches
def format_prompt(tokenizer, prompt):
    """The chat template's user turn + generation prompt when the tokenizer has a template, else the prompt."""
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template([{"role": "user", "content": prompt}], add_generation_prompt=True,
                                             tokenize=False)
    return prompt


def tokenize_pair(tokenizer, pair, max_length=256, max_prompt_length=None):
    """{"prompt_ids", "chosen_ids", "rejected_ids"}: three token lists, each response ending with eos.

    Prompt and responses are tokenized separately (add_special_tokens=False) so the prompt/response boundary
    is exact for the -100 mask. Truncation: if prompt + longest response > max_length, the prompt is cut from
    the LEFT to its last max_prompt_length tokens (default max_length // 2; the end of the prompt, next to
    the response, matters most), then responses are cut from the RIGHT to max_length - len(prompt).
    """
    max_prompt_length = max_length // 2 if max_prompt_length is None else max_prompt_length
    if not 0 < max_prompt_length < max_length:
        raise ValueError(f"max_prompt_length={max_prompt_length} must be in 1..max_length-1 (max_length={max_length})")
    if tokenizer.eos_token_id is None:
        raise ValueError("tokenizer has no eos token; set tokenizer.eos_token")
    enc = lambda s: tokenizer(s, add_special_tokens=False)["input_ids"]
    p = enc(format_prompt(tokenizer, pair["prompt"]))
    c, r = enc(pair["chosen"]) + [tokenizer.eos_token_id], enc(pair["rejected"]) + [tokenizer.eos_token_id]
    if len(p) + max(len(c), len(r)) > max_length:
        p = p[-max_prompt_length:] if len(p) > max_prompt_length else p
        c, r = c[:max_length - len(p)], r[:max_length - len(p)]
    return {"prompt_ids": p, "chosen_ids": c, "rejected_ids": r}


def tokenize_pairs(tokenizer, pairs, max_length=256, max_prompt_length=None):
    from tqdm import tqdm  # lazily, like torch below: the pair logic above imports nothing heavy
    return [tokenize_pair(tokenizer, p, max_length, max_prompt_length)
            for p in tqdm(pairs, desc="tokenize", leave=False, disable=len(pairs) < 1000)]


def collate_pairs(tokenized, pad_id, pad_to=None):
    """(2B, T) input_ids / attention_mask / labels: rows [0:B] prompt+chosen, [B:2B] prompt+rejected.

    Right padding with pad_id; labels = input_ids on response tokens, -100 on prompt and padding.
    pad_to fixes T (static shapes for torch.compile); a longer sequence is an error.
    """
    import torch
    seqs = [(t["prompt_ids"], t[key]) for key in ("chosen_ids", "rejected_ids") for t in tokenized]
    T = max(len(p) + len(r) for p, r in seqs)
    if pad_to is not None:
        if T > pad_to:
            raise ValueError(f"collate_pairs: a sequence has {T} tokens > pad_to={pad_to}; "
                             "raise pad_to or lower max_length")
        T = pad_to
    ids = torch.full((len(seqs), T), pad_id, dtype=torch.long)
    labels = torch.full((len(seqs), T), -100, dtype=torch.long)
    mask = torch.zeros((len(seqs), T), dtype=torch.long)
    for i, (p, r) in enumerate(seqs):
        n = len(p) + len(r)
        ids[i, :n] = torch.tensor(p + r, dtype=torch.long)
        labels[i, len(p):n] = torch.tensor(r, dtype=torch.long)
        mask[i, :n] = 1
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


# ----------------------------------------------------------------------------- loading: any source -> rows / pairs
def toy_text(source):
    """The toy world's text form a source names ("toy" -> "plain", "toy:natural" -> "natural"); None for any
    other source."""
    name, _, form = source.partition(":")
    if name != "toy":
        return None
    if form not in ("", *toyworld.TEXT_FORMS):
        raise ValueError(f"--data {source}: the toy world is toy (plain text) or toy:natural (ordinary English)")
    return form or "plain"


def _open(source, split, limit, seed, data_dir=None, correlation=None):
    """(where, shape, [(row, record)], strict): the toy world here, files and hub names in plumbing/hub_data.py."""
    from plumbing import hub_data  # lazily: the toy world needs none of the file and hub readers
    if toy_text(source):
        n = TOY_PROMPTS if limit is None else max(1, math.ceil(limit / TOY_RESPONSES))
        rows = toyworld.make_rows(n_prompts=n, responses_per_prompt=TOY_RESPONSES, seed=seed, correlation=correlation,
                                  text=toy_text(source))
        return source, "rated", list(enumerate(rows[:limit], 1)), True
    if correlation is not None:  # refuse before reading or downloading anything
        raise ValueError(f"{source}: correlation={correlation} is a knob of the toy world only; leave it unset "
                         "for other sources")
    return hub_data.open_source(source, split, limit, data_dir)


def load_rows(source, split="train", limit=None, seed=0, correlation=None, attributes=()):
    """Rated rows from "toy", nvidia/HelpSteer, openbmb/UltraFeedback or a local rated/UltraFeedback file.

    correlation: the toy world's helpfulness-verbosity knob (None = toyworld.DEFAULT_CORRELATION); toy only.
    attributes: columns that must be read as ratings (hub_data.rating_columns)."""
    from plumbing import hub_data  # lazily: the toy world needs none of the file and hub readers
    if hub_data.HUB.get(source.partition(":")[0]) in hub_data.PAIRWISE:  # refuse before downloading
        raise ValueError(f"{source} holds pairs, not rated rows; use load_pairs")
    where, shape, records, strict = _open(source, split, limit, seed, correlation=correlation)
    rows = choose_split(hub_data.rows_of(where, shape, records, strict, tuple(attributes)), split, seed)
    if not rows:
        raise ValueError(f"{where}: no rows in split {split!r}; give more prompts (about 10% of them land in "
                         "validation and in test), a larger limit, or another split")
    return rows


def load_pairs(source, objective=None, weights=None, split="train", limit=None, seed=0, max_pairs_per_prompt=None,
               correlation=None, control=None):
    """Pairs {"prompt","chosen","rejected","objective"} for one objective or one weighting, from any source.

    correlation: the toy world's knob (None = its default; toy only). control: an attribute held equal in every
    pair (make_pairs; rated rows only). Pairs whose chosen text equals the rejected text are dropped (a count
    on stderr); an empty split is an error."""
    from plumbing import hub_data  # lazily: the toy world needs none of the file and hub readers
    data_dir = source.partition(":")[2]
    control_attributes(control)  # a bad control is refused before any reading
    if control is not None and hub_data.HUB.get(source.partition(":")[0]) in hub_data.PAIRWISE:
        raise ValueError(f"{source} holds fixed pairs: control={control!r} needs rated rows; leave control unset")
    if source.partition(":")[0] == "Anthropic/hh-rlhf":
        objective, data_dir = hub_data.hh_objective(source, objective)
    where, shape, records, strict = _open(source, split, limit, seed, data_dir or None, correlation)
    if shape in hub_data.PAIRWISE:
        if weights is not None:
            raise ValueError(f"{where}: {shape} shape detected: weights need rated rows, these are fixed pairs; "
                             "pass --objective instead")
        if control is not None:
            raise ValueError(f"{where}: {shape} shape detected: control={control!r} needs rated rows (labels to "
                             "hold equal), these are fixed pairs; leave control unset")
        items, objective = hub_data.pairs_of(where, shape, records, strict, objective)
        label, pairs = objective or "any", choose_split(items, split, seed)
    else:
        named = (objective,) if objective else tuple(parse_weights(weights)) if weights else ()
        items = hub_data.rows_of(where, shape, records, strict, named + control_attributes(control))
        try:
            pairs = make_pairs(choose_split(items, split, seed), objective, weights, max_pairs_per_prompt, control)
            label = objective or weights_label(weights)
        except ValueError as e:
            raise ValueError(e if str(e).startswith(where) else f"{where}: {e}") from None
    pairs, n_same = drop_identical(pairs)
    if n_same and pairs:  # when none are left, the error below says it: one line
        print(f"{where}: dropped {n_same} of {n_same + len(pairs)} pairs in split {split!r} whose chosen text "
              "equals the rejected text", file=sys.stderr)
    if not pairs:
        raise ValueError(f"{where}: no pairs for objective {label!r}"
                         + (f" at equal {','.join(control_attributes(control))}" if control is not None else "")
                         + f" in split {split!r}; " + _why_empty(items, split, seed, n_same, control))
    return pairs


def _why_empty(items, split, seed, n_same, control=None):
    """What to do about an empty split, in words."""
    if n_same:
        return (f"all {n_same} had the chosen text equal to the rejected text; give pairs whose chosen and rejected "
                "texts differ")
    if items and not choose_split(items, split, seed):
        return (f"the prompts of all {len(items)} records fall in other splits (80/10/10 by a hash of the prompt); "
                "give more prompts or use split 'all'")
    if control is not None:
        return ("no two responses to one prompt differ in the objective while their control labels are equal; "
                "give more prompts or leave control unset")
    return "check the objective and that responses to one prompt differ in it (ties are dropped)"


# ----------------------------------------------------------------------------- main
def _weights_flag(text):
    try:
        parse_weights(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return text


def main(argv=None):
    ap = Parser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default="toy", help="toy | toy:natural | a hub name above | a local .jsonl/.json/.parquet")
    ap.add_argument("--source", dest="data", help=argparse.SUPPRESS)  # the old name of --data: old commands still run
    ap.add_argument("--objective", default=None, help="attribute to raise (default helpfulness when no --weights)")
    ap.add_argument("--weights", type=_weights_flag, default=None,
                    help="scalarized objective, e.g. helpfulness=0.7,verbosity=-0.3")
    ap.add_argument("--limit", type=positive(), default=None, help="read at most this many source records")
    ap.add_argument("--max-pairs-per-prompt", type=positive(), default=None)
    ap.add_argument("--seed", type=int, default=0, help="toy-world and split seed (any integer)")
    ap.add_argument("--correlation", type=toyworld.correlation_flag(), default=None,
                    help="toy world only: helpfulness-verbosity correlation knob (default: the toy world's)")
    ap.add_argument("--control", default=None, help="keep only pairs with equal labels on this attribute")
    args = ap.parse_args(argv)
    if args.objective and args.weights:
        ap.error("give --objective or --weights, not both")
    if args.correlation is not None and not toy_text(args.data):
        ap.error(f"--correlation is a knob of the toy world; --data {args.data} has none")
    objective = args.objective or (None if args.weights else "helpfulness")
    pairs = load_pairs(args.data, objective, args.weights, split="all", limit=args.limit, seed=args.seed,
                       max_pairs_per_prompt=args.max_pairs_per_prompt, correlation=args.correlation,
                       control=args.control)
    for name, part in zip(SPLITS, split_by_prompt(pairs, seed=args.seed)):
        print(f"{name:>10}: {len(part)} pairs, {len({p['prompt'] for p in part})} prompts")
    print(json.dumps(pairs[0], indent=2, ensure_ascii=False))


if __name__ == "__main__":
    run_cli(main)
