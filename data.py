"""Preference data: rated rows and pairs from every source, prompt-level splits, tokenization, batches.

Two formats carry everything:
  rated row  {"prompt", "response", <attribute>: number 0-4, ...}      (shaped like nvidia/HelpSteer)
  pair       {"prompt", "chosen", "rejected", "objective"}              (shaped like TRL's preference format)
From rated rows, every two responses to one prompt whose score s differs make a pair, the higher chosen,
ties dropped; s = the attribute (objective) or s = sum_a w_a * attribute_a (scalarized weights).

Sources (`source=`): "toy" (toyworld.make_rows), "nvidia/HelpSteer", "openbmb/UltraFeedback" (ratings 1-5 ->
0-4, "N/A" -> no rating, verbosity from word count: <50 ->0, <100 ->1, <200 ->2, <400 ->3, else 4),
"PKU-Alignment/PKU-SafeRLHF" (objectives helpfulness | safety), "Anthropic/hh-rlhf[:data_dir]" (helpfulness =
helpful-base, harmlessness = harmless-base), or a local .jsonl/.json/.parquet file whose shape is detected
from its columns: rated rows, pairs (prompt, chosen, rejected[, objective]), or any hub shape above.
Hub data is downloaded only when such a name is asked for. Splits ("train" | "validation" | "test") are a
deterministic hash of the prompt (80/10/10, no prompt in two splits) over the whole file, or over the hub's
"train" split; "all" = everything; "hub:<name>" = that hub split as is. Local files are strict: a bad row is
one ValueError naming file, row (= line for JSONL) and field. Hub data skips malformed records with a count.

Tokens: prompt (chat template if the tokenizer has one) and responses are tokenized apart, responses end with
eos; too long -> the prompt is cut from the LEFT to max_prompt_length, then responses from the right.
A batch is (2B, T): rows [0:B] prompt+chosen, [B:2B] prompt+rejected, right-padded, labels -100 on prompt+pad.

Run:
  python data.py --source toy --objective helpfulness
  python data.py --source toy --weights helpfulness=0.7,verbosity=-0.3
  python data.py --source my_pairs.jsonl --objective safety
"""
import argparse
import bisect
import hashlib
import itertools
import json
import math
import os
import random
import sys

TOY_PROMPTS, TOY_RESPONSES = 2000, 4
RATING_MAX = 4                                   # rated rows live on HelpSteer's 0-4 scale
VERBOSITY_WORD_BUCKETS = (50, 100, 200, 400)     # UltraFeedback has no verbosity label: bucket word counts
UF_ASPECTS = ("helpfulness", "honesty", "instruction_following", "truthfulness")
PKU_FIELDS = {"helpfulness": "better_response_id", "safety": "safer_response_id"}
HH_DIRS = {"helpfulness": "helpful-base", "harmlessness": "harmless-base"}
HH_MARK = "\n\nAssistant:"
HUB = {"nvidia/HelpSteer": "rated", "openbmb/UltraFeedback": "UltraFeedback",
       "PKU-Alignment/PKU-SafeRLHF": "PKU-SafeRLHF", "Anthropic/hh-rlhf": "hh-rlhf"}
PAIRWISE = {"PKU-SafeRLHF": tuple(PKU_FIELDS), "hh-rlhf": tuple(HH_DIRS), "pairs": ()}  # shape -> objectives
SPLITS, FRACTIONS = ("train", "validation", "test"), (0.8, 0.1, 0.1)
NOT_ATTRIBUTES = {"prompt", "response", "id", "idx", "index", "source", "model", "split"}
SHAPES = {  # shape -> the columns that identify it, tried in this order
    "UltraFeedback": ("instruction", "completions"),
    "PKU-SafeRLHF": ("prompt", "response_0", "response_1"),
    "pairs": ("prompt", "chosen", "rejected"),
    "hh-rlhf": ("chosen", "rejected"),
    "rated": ("prompt", "response"),
}


# ----------------------------------------------------------------------------- reading and checking records
def _bad(where, row, field, problem, fix):
    return ValueError(f"{where}: row {row}: field '{field}': {problem}; {fix}")


def read_records(path):
    """[(row, record)] from .jsonl / .json / .parquet; row = line number for JSON lines, 1-based index otherwise."""
    ext = os.path.splitext(path)[1].lower()
    if ext not in (".jsonl", ".json", ".parquet"):
        raise ValueError(f"{path}: unsupported file type '{ext}'; use .jsonl, .json or .parquet")
    try:
        if ext == ".parquet":
            import pyarrow.parquet as pq
            records = list(enumerate(pq.read_table(path).to_pylist(), 1))
        else:
            with open(path, encoding="utf-8") as f:
                text = f.read()
            if ext == ".json" and text.lstrip().startswith("["):  # a JSON array; otherwise JSON lines
                records = list(enumerate(json.loads(text), 1))
            else:
                records = [(i, line) for i, line in enumerate(text.splitlines(), 1) if line.strip()]
                for k, (i, line) in enumerate(records):
                    try:
                        records[k] = (i, json.loads(line))
                    except json.JSONDecodeError as e:
                        raise ValueError(f"{path}: row {i}: malformed JSON ({e.msg}, column {e.colno}); "
                                         "write one JSON object per line") from None
    except (ValueError, OSError) as e:  # pyarrow's errors subclass these; ours pass through unchanged
        raise e if str(e).startswith(path) else ValueError(
            f"{path}: not a readable {'Parquet' if ext == '.parquet' else 'UTF-8 JSON'} file ({type(e).__name__}); "
            "write JSONL (one object per line) or Parquet (pandas.DataFrame.to_parquet)") from None
    bad = next((i for i, rec in records if not isinstance(rec, dict)), None)
    if bad is not None or not records:
        raise ValueError(f"{path}: row {bad or 1}: no JSON object there; write one {{...}} record per row")
    return records


def detect_shape(columns, where="records"):
    """Name of the shape whose identifying columns are all present (see SHAPES)."""
    for shape, needed in SHAPES.items():
        if all(c in columns for c in needed):
            return shape
    expected = "; ".join(f"{shape} ({', '.join(cols)}, ...)" for shape, cols in SHAPES.items())
    raise ValueError(f"{where}: columns {sorted(columns)} match no known shape; expected one of: {expected}")


def _text(rec, field, where, row, shape, name=None):
    if field not in rec:
        raise _bad(where, row, name or field, f"missing ({shape} shape detected)", "add the column or fix the row")
    v = rec[field]
    if not isinstance(v, str) or not v.strip():
        raise _bad(where, row, name or field, f"empty or not text ({shape} shape)", "fill it in or drop the row")
    return v


def _number(v, where, row, field, lo, hi, fix):
    if isinstance(v, str):
        try:
            v = float(v)
        except ValueError:
            pass
    if isinstance(v, bool) or not isinstance(v, (int, float)) or math.isnan(v):
        raise _bad(where, row, field, f"rating {v!r} is not a number", fix)
    if not lo <= v <= hi:
        raise _bad(where, row, field, f"rating {v!r} is outside {lo}-{hi}", fix)
    return int(v) if float(v).is_integer() else float(v)


def _number_like(v):
    try:
        return not isinstance(v, bool) and isinstance(float(v), float)
    except (TypeError, ValueError):
        return False


def rating_columns(records):
    """Attribute columns of rated rows: every column, bar prompt/response/ids, with a number in some record."""
    cols = []
    for _, rec in records:
        cols += [k for k, v in rec.items() if k not in cols and k not in NOT_ATTRIBUTES
                 and not k.endswith("_id") and _number_like(v)]
    return cols


# ----------------------------------------------------------------------------- pure mappings: record -> rows / pairs
def rated_row(rec, attributes, where="records", row=1):
    """One rated row: prompt, response, one 0-4 number per attribute."""
    out = {"prompt": _text(rec, "prompt", where, row, "rated"), "response": _text(rec, "response", where, row, "rated")}
    for a in attributes:
        if a not in rec:
            raise _bad(where, row, a, "missing (rated shape detected)", "give every row every attribute")
        out[a] = _number(rec[a], where, row, a, 0, RATING_MAX, "rated rows need numbers 0-4 (HelpSteer scale)")
    return out


def ultrafeedback_rows(rec, where="records", row=1):
    """One rated row per completion: ratings "1".."5" -> 0-4, "N/A" -> None (no pairs on it), verbosity by words."""
    prompt = _text(rec, "instruction", where, row, "UltraFeedback")
    completions = rec.get("completions")
    if not isinstance(completions, list):
        raise _bad(where, row, "completions", "not a list (UltraFeedback shape detected)", "give a list of completions")
    rows = []
    for k, c in enumerate(completions):
        field = f"completions[{k}]"
        if not isinstance(c, dict) or not isinstance(c.get("annotations"), dict):
            raise _bad(where, row, f"{field}.annotations", "missing", "each completion needs response and annotations")
        r = {"prompt": prompt, "response": _text(c, "response", where, row, "UltraFeedback", f"{field}.response")}
        for aspect in UF_ASPECTS:
            rating = (c["annotations"].get(aspect) or {}).get("Rating", "N/A")
            r[aspect] = None if rating in ("N/A", None) else _number(rating, where, row, f"{field}.annotations.{aspect}"
                                                                     ".Rating", 1, 5, 'use "1"-"5" or "N/A"') - 1
        r["verbosity"] = bisect.bisect_right(VERBOSITY_WORD_BUCKETS, len(r["response"].split()))
        rows.append(r)
    return rows


def pku_pair(rec, objective, where="records", row=1):
    """PKU-SafeRLHF: chosen = response_{better_response_id} (helpfulness) or response_{safer_response_id} (safety)."""
    shape = "PKU-SafeRLHF"
    prompt, r0, r1 = (_text(rec, f, where, row, shape) for f in ("prompt", "response_0", "response_1"))
    field = PKU_FIELDS[objective]
    if field not in rec:
        raise _bad(where, row, field, f"missing ({shape} shape detected)", f"objective {objective} needs it")
    idx = rec[field]
    if isinstance(idx, bool) or idx not in (0, 1):
        raise _bad(where, row, field, f"{idx!r} is not 0 or 1", "it indexes response_0 / response_1")
    chosen, rejected = (r0, r1) if idx == 0 else (r1, r0)
    pair = {"prompt": prompt, "chosen": chosen, "rejected": rejected, "objective": objective}
    return [] if chosen == rejected else [pair]


def hh_pair(rec, objective, where="records", row=1):
    """hh-rlhf: prompt = both transcripts up to and including their last shared "\\n\\nAssistant:"."""
    chosen, rejected = _text(rec, "chosen", where, row, "hh-rlhf"), _text(rec, "rejected", where, row, "hh-rlhf")
    cut = os.path.commonprefix([chosen, rejected]).rfind(HH_MARK)
    if cut < 0:
        raise _bad(where, row, "chosen", "no shared '\\n\\nAssistant:' turn", "both transcripts must share the prompt")
    prompt = chosen[:cut + len(HH_MARK)]
    c, r = chosen[len(prompt):].strip(), rejected[len(prompt):].strip()
    for field, v in (("chosen", c), ("rejected", r)):
        if not v:
            raise _bad(where, row, field, "empty reply after the prompt", "drop the row")
    return [] if c == r else [{"prompt": prompt, "chosen": c, "rejected": r, "objective": objective}]


def pair_record(rec, objective, where="records", row=1):
    """Pair format; an objective column, when present, must match the requested objective (else the row is left out)."""
    p, c, r = (_text(rec, f, where, row, "pairs") for f in ("prompt", "chosen", "rejected"))
    label = rec.get("objective") or objective or "preference"
    return [] if objective and label != objective else [{"prompt": p, "chosen": c, "rejected": r, "objective": label}]


def _map(records, fn, where, strict):
    """Apply a record mapping; strict (local files) raises on a bad record, else skips and counts it."""
    out, skipped = [], 0
    for row, rec in records:
        try:
            out.extend(fn(rec, where, row))
        except ValueError:
            if strict:
                raise
            skipped += 1
    if skipped:
        print(f"{where}: skipped {skipped} malformed records", file=sys.stderr)
    return out


# ----------------------------------------------------------------------------- sources
def _source(source, split="train", limit=None, seed=0, data_dir=None):
    """(where, shape, [(row, record)], strict) for "toy", a local file or a hub name (downloaded only here)."""
    if source == "toy":
        import toyworld  # lazily: data.py imports without the toy world
        n = TOY_PROMPTS if limit is None else max(1, math.ceil(limit / TOY_RESPONSES))
        rows = toyworld.make_rows(n_prompts=n, responses_per_prompt=TOY_RESPONSES, seed=seed)
        return "toy", "rated", list(enumerate(rows[:limit], 1)), True
    if os.path.isfile(source):
        records = read_records(source)
        return source, detect_shape(records[0][1], source), records[:limit], True
    name = source.partition(":")[0]
    if name not in HUB and os.path.splitext(source)[1].lower() in (".jsonl", ".json", ".parquet"):
        raise ValueError(f"{source}: file not found; check the path")
    if name not in HUB:
        raise ValueError(f"unknown source {source!r}; use toy, {', '.join(HUB)} or a path to an existing "
                         ".jsonl/.json/.parquet file")
    from datasets import load_dataset
    ds = load_dataset(name, data_dir=data_dir, split=split[4:] if split.startswith("hub:") else "train")
    ds = ds if limit is None else ds.select(range(min(limit, len(ds))))
    return name, HUB[name], list(enumerate(ds, 1)), False  # real data: skip malformed records, count them


def _choose(items, split, seed):
    if split == "all" or split.startswith("hub:"):
        return items
    split = "validation" if split == "val" else split
    if split not in SPLITS:
        raise ValueError(f"split {split!r}: use train, validation, test, all or hub:<hub split name>")
    return split_by_prompt(items, seed=seed)[SPLITS.index(split)]


def _rows(where, shape, records, strict):
    if shape == "UltraFeedback":
        return _map(records, ultrafeedback_rows, where, strict)
    if shape != "rated":
        raise ValueError(f"{where}: {shape} shape detected: it holds pairs, not rated rows; use load_pairs instead")
    attrs = rating_columns(records)
    return _map(records, lambda rec, w, r: [rated_row(rec, attrs, w, r)], where, strict)


def load_rows(source, split="train", limit=None, seed=0):
    """Rated rows from "toy", nvidia/HelpSteer, openbmb/UltraFeedback or a local rated/UltraFeedback file."""
    if HUB.get(source.partition(":")[0]) in PAIRWISE:  # refuse before downloading
        raise ValueError(f"{source} holds pairs, not rated rows; use load_pairs")
    where, shape, records, strict = _source(source, split, limit, seed)
    rows = _choose(_rows(where, shape, records, strict), split, seed)
    if not rows:
        raise ValueError(f"{where}: no rows in split {split!r}; use a larger limit or another split")
    return rows


def load_pairs(source, objective=None, weights=None, split="train", limit=None, seed=0, max_pairs_per_prompt=None):
    """Pairs {"prompt","chosen","rejected","objective"} for one objective or one weighting, from any source."""
    name, _, data_dir = source.partition(":")
    if name == "Anthropic/hh-rlhf":  # data_dir and objective name each other: helpful-* / harmless-*
        implied = {"help": "helpfulness", "harm": "harmlessness"}.get(data_dir[:4])
        if objective and implied and objective != implied:
            raise ValueError(f"{source}: data_dir {data_dir} means objective {implied}, not {objective}")
        objective = objective or implied or "helpfulness"
        data_dir = data_dir or HH_DIRS.get(objective)
    where, shape, records, strict = _source(source, split, limit, seed, data_dir or None)
    if shape not in PAIRWISE:
        try:
            pairs = make_pairs(_choose(_rows(where, shape, records, strict), split, seed),
                               objective, weights, max_pairs_per_prompt)
        except ValueError as e:
            raise ValueError(e if str(e).startswith(where) else f"{where}: {e}") from None
        label = objective or weights_label(weights)
    else:
        if weights is not None:
            raise ValueError(f"{where}: {shape} shape detected: weights need rated rows, these are fixed pairs; "
                             "pass objective= instead")
        objective = objective or ("helpfulness" if shape == "hh-rlhf" else None)
        known = PAIRWISE[shape] or sorted({rec["objective"] for _, rec in records if rec.get("objective")})
        if (objective or shape != "pairs") and known and objective not in known:  # unlabelled pairs take any name
            raise ValueError(f"{where}: unknown objective {objective!r} for the {shape} shape; "
                             f"objectives present: {', '.join(known)}")
        fn = {"PKU-SafeRLHF": pku_pair, "hh-rlhf": hh_pair, "pairs": pair_record}[shape]
        pairs = _choose(_map(records, lambda rec, w, r: fn(rec, objective, w, r), where, strict), split, seed)
        label = objective or "any"
    if not pairs:
        raise ValueError(f"{where}: no pairs for objective {label!r} in split {split!r}; check the objective "
                         "and that responses to one prompt differ in it (ties are dropped)")
    return pairs


# ----------------------------------------------------------------------------- pairs and splits (pure)
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


def make_pairs(rows, objective=None, weights=None, max_pairs_per_prompt=None):
    """Every two responses to one prompt whose score differs -> a pair, higher chosen; ties and None skipped.

    score = row[objective] or sum_a weights[a] * row[a]. Order: prompts by first appearance, then (i, j) with
    i < j in row order. max_pairs_per_prompt keeps the pairs with the largest score gap (ties by that order).
    """
    if (objective is None) == (weights is None):
        raise ValueError("make_pairs: give exactly one of objective=NAME or weights='a=0.7,b=-0.3'")
    w = {objective: 1.0} if objective is not None else parse_weights(weights)
    label = objective if objective is not None else weights_label(w)
    present = [k for k in rows[0] if k not in ("prompt", "response")] if rows else []
    unknown = [a for a in w if a not in present]
    if rows and unknown:
        raise ValueError(f"unknown attribute {unknown[0]!r} in objective {label!r}; "
                         f"attributes present: {', '.join(present)}")
    groups = {}
    for r in rows:
        if any(r[a] is None for a in w):  # UltraFeedback "N/A": no rating, so no preference on it
            continue
        groups.setdefault(r["prompt"], []).append((sum(c * r[a] for a, c in w.items()), r["response"]))
    pairs = []
    for prompt, items in groups.items():
        cand = [(abs(si - sj), *((ri, rj) if si > sj else (rj, ri)))  # (gap, chosen, rejected)
                for (si, ri), (sj, rj) in itertools.combinations(items, 2)
                if not math.isclose(si, sj, abs_tol=1e-9) and ri != rj]
        if max_pairs_per_prompt is not None and len(cand) > max_pairs_per_prompt:
            keep = sorted(sorted(range(len(cand)), key=lambda k: -cand[k][0])[:max_pairs_per_prompt])
            cand = [cand[k] for k in keep]
        pairs += [{"prompt": prompt, "chosen": c, "rejected": rj, "objective": label} for _, c, rj in cand]
    return pairs


def split_by_prompt(items, fractions=FRACTIONS, seed=0):
    """(train, val, test) by u = sha256(seed, prompt) in [0, 1): a prompt's items always share one split."""
    total = sum(fractions)
    e1, e2 = fractions[0] / total, (fractions[0] + fractions[1]) / total
    out = ([], [], [])
    for it in items:
        u = int(hashlib.sha256(f"{seed}\0{it['prompt']}".encode()).hexdigest()[:15], 16) / 16 ** 15
        out[0 if u < e1 else 1 if u < e2 else 2].append(it)
    return out


# ----------------------------------------------------------------------------- tokenization and batches
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
    from tqdm import tqdm
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


def batches(tokenized, batch_size, shuffle=True, seed=0, drop_last=False):
    """Lists of batch_size items; shuffled by random.Random(seed) so a run is reproducible."""
    order = list(range(len(tokenized)))
    if shuffle:
        random.Random(seed).shuffle(order)
    for s in range(0, len(order), batch_size):
        if drop_last and s + batch_size > len(order):
            return
        yield [tokenized[k] for k in order[s:s + batch_size]]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--source", default="toy", help="toy | a hub name above | a local .jsonl/.json/.parquet file")
    ap.add_argument("--objective", default=None, help="attribute to raise (default helpfulness when no --weights)")
    ap.add_argument("--weights", default=None, help="scalarized objective, e.g. helpfulness=0.7,verbosity=-0.3")
    ap.add_argument("--limit", type=int, default=None, help="read at most this many source records")
    ap.add_argument("--max-pairs-per-prompt", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    objective = args.objective or (None if args.weights else "helpfulness")
    try:
        pairs = load_pairs(args.source, objective, args.weights, split="all", limit=args.limit, seed=args.seed,
                           max_pairs_per_prompt=args.max_pairs_per_prompt)
    except ValueError as e:
        sys.exit(f"error: {e}")
    for name, part in zip(SPLITS, split_by_prompt(pairs, seed=args.seed)):
        print(f"{name:>10}: {len(part)} pairs, {len({p['prompt'] for p in part})} prompts")
    print(json.dumps(pairs[0], indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
