"""Where preference data comes from: local files and Hugging Face hub datasets, mapped to data.py's two formats.

data.py owns the formats (rated rows, pairs), the splits and the tokens; this file only reads records and
maps each known shape to them. A shape is recognized by its columns (SHAPES, tried in order):

  UltraFeedback  instruction, completions[k].{response, annotations.<aspect>.Rating}  -> rated rows:
                 ratings "1".."5" -> 0-4, "N/A" -> None (no pair on it); verbosity from the word count w:
                 w < 50 -> 0, < 100 -> 1, < 200 -> 2, < 400 -> 3, else 4 (UltraFeedback has no such label)
  PKU-SafeRLHF   prompt, response_0, response_1, better_response_id | safer_response_id   -> pairs
                 (objective helpfulness | safety)
  conversational chosen, rejected as lists of {role, content} messages[, prompt as messages or text][, objective]
                 (TRL's conversational preference format, UltraFeedback-binarized)             -> pairs:
                 prompt = the turns before the last one, shared by both; responses = the last (assistant) turns
  pairs          prompt, chosen, rejected[, objective]                                       -> pairs
  hh-rlhf        chosen, rejected (two transcripts; the prompt is everything up to and including their last
                 shared "\\n\\nAssistant:")  -> pairs; helpfulness = helpful-base, harmlessness = harmless-base
  rated          prompt, response, one 0-4 number per attribute (nvidia/HelpSteer)          -> rated rows:
                 the attributes are the columns named by the objective / weights / control, the known ones
                 (ATTRIBUTES) and any other column whose every value is a 0-4 number; the rest are ignored, said once

Hub names (HUB) are downloaded only when asked for, through `datasets.load_dataset`. Local files
(.jsonl / .json / .parquet) are strict: a bad record is one ValueError naming the file, the row (= line
for JSON lines) and the field, and saying what to do. Hub data is real data: a malformed record is
skipped and counted on stderr. Pairs whose chosen text equals the rejected text are kept here and
dropped, with a count, by data.load_pairs (one place for every source).

    python data.py --data my_pairs.jsonl --objective safety     # (this file has no command of its own)
"""
import bisect
import difflib
import json
import math
import os
import sys

RATING_MAX = 4                                   # rated rows live on HelpSteer's 0-4 scale
VERBOSITY_WORD_BUCKETS = (50, 100, 200, 400)     # UltraFeedback has no verbosity label: bucket word counts
UF_ASPECTS = ("helpfulness", "honesty", "instruction_following", "truthfulness")
PKU_FIELDS = {"helpfulness": "better_response_id", "safety": "safer_response_id"}
HH_DIRS = {"helpfulness": "helpful-base", "harmlessness": "harmless-base"}
HH_MARK = "\n\nAssistant:"
HUB = {"nvidia/HelpSteer": "rated", "openbmb/UltraFeedback": "UltraFeedback",
       "PKU-Alignment/PKU-SafeRLHF": "PKU-SafeRLHF", "Anthropic/hh-rlhf": "hh-rlhf"}
PAIRWISE = {"PKU-SafeRLHF": tuple(PKU_FIELDS), "hh-rlhf": tuple(HH_DIRS), "pairs": (), "conversational": ()}
ATTRIBUTES = ("helpfulness", "correctness", "coherence", "complexity", "verbosity", "safety", "harmlessness",
              *UF_ASPECTS)  # known by name (HelpSteer, the toy world, UltraFeedback): always ratings when present
TOY_ATTRIBUTES = ("helpfulness", "verbosity", "safety")  # toyworld.ATTRIBUTES (plumbing imports no lesson file)
_NOTED = set()  # (source, objective) already said to be a label only
FILE_TYPES = (".jsonl", ".json", ".parquet")
NOT_ATTRIBUTES = {"prompt", "response", "id", "idx", "index", "source", "model", "split"}
SHAPES = {  # shape -> the columns that identify it, tried in this order (conversational: chosen is a message list)
    "UltraFeedback": ("instruction", "completions"),
    "PKU-SafeRLHF": ("prompt", "response_0", "response_1"),
    "conversational": ("chosen", "rejected"),
    "pairs": ("prompt", "chosen", "rejected"),
    "hh-rlhf": ("chosen", "rejected"),
    "rated": ("prompt", "response"),
}


# ----------------------------------------------------------------------------- opening a source
def open_source(source, split="train", limit=None, data_dir=None):
    """(where, shape, [(row, record)], strict) for a local file or a hub name (downloaded only here)."""
    if os.path.isfile(source):
        records = read_records(source)
        return source, detect_shape(records[0][1], source), records[:limit], True
    name = source.partition(":")[0]
    if name not in HUB and os.path.splitext(source)[1].lower() in FILE_TYPES:
        raise ValueError(f"{source}: file not found; check the path")
    if name not in HUB:
        raise ValueError(f"unknown source {source!r}; use toy, {', '.join(HUB)} or a path to an existing "
                         ".jsonl/.json/.parquet file")
    from datasets import load_dataset  # lazily: only a hub name needs it
    ds = load_dataset(name, data_dir=data_dir, split=split[4:] if split.startswith("hub:") else "train")
    ds = ds if limit is None else ds.select(range(min(limit, len(ds))))
    return name, HUB[name], list(enumerate(ds, 1)), False  # real data: skip malformed records, count them


def hh_objective(source, objective):
    """(objective, data_dir) for Anthropic/hh-rlhf[:data_dir]: the two name each other (helpful-*, harmless-*)."""
    data_dir = source.partition(":")[2]
    implied = {"help": "helpfulness", "harm": "harmlessness"}.get(data_dir[:4])
    if objective and implied and objective != implied:
        raise ValueError(f"{source}: data_dir {data_dir} means objective {implied}, not {objective}")
    objective = objective or implied or "helpfulness"
    return objective, data_dir or HH_DIRS.get(objective)


def read_records(path):
    """[(row, record)] from .jsonl / .json / .parquet; row = line number for JSON lines, 1-based index otherwise."""
    ext = os.path.splitext(path)[1].lower()
    if ext not in FILE_TYPES:
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
                records = [(i, _json_line(path, i, line)) for i, line in enumerate(text.splitlines(), 1)
                           if line.strip()]
    except (ValueError, OSError) as e:  # pyarrow's errors subclass these; ours pass through unchanged
        raise e if str(e).startswith(path) else ValueError(
            f"{path}: not a readable {'Parquet' if ext == '.parquet' else 'UTF-8 JSON'} file ({type(e).__name__}); "
            "write JSONL (one object per line) or Parquet (pandas.DataFrame.to_parquet)") from None
    bad = next((i for i, rec in records if not isinstance(rec, dict)), None)
    if bad is not None or not records:
        raise ValueError(f"{path}: row {bad or 1}: no JSON object there; write one {{...}} record per row")
    return records


def _json_line(path, row, line):
    try:
        return json.loads(line)
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: row {row}: malformed JSON ({e.msg}, column {e.colno}); "
                         "write one JSON object per line") from None


def detect_shape(columns, where="records"):
    """Name of the shape whose identifying columns are all present (see SHAPES)."""
    for shape, needed in SHAPES.items():
        if all(c in columns for c in needed) and (shape != "conversational" or isinstance(columns["chosen"], list)):
            return shape
    expected = "; ".join(f"{shape} ({', '.join(cols)}, ...)" for shape, cols in SHAPES.items())
    raise ValueError(f"{where}: columns {sorted(columns)} match no known shape; expected one of: {expected}")


# ----------------------------------------------------------------------------- checking one field
def _bad(where, row, field, problem, fix):
    return ValueError(f"{where}: row {row}: field '{field}': {problem}; {fix}")


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


def rating_columns(records, named=(), where="records"):
    """Attribute columns of rated rows, in column order: the `named` ones (objective, weights, control), the known
    ATTRIBUTES, and any other column whose every value is a 0-4 number (not an id); every other column is ignored
    (timestamps, ids, scores on other scales), and said once per file."""
    cols = list(dict.fromkeys(k for _, rec in records for k in rec if k not in ("prompt", "response")))
    rating = lambda v: _number_like(v) and 0 <= float(v) <= RATING_MAX
    attrs = [k for k in cols if k in named or k in ATTRIBUTES or k not in NOT_ATTRIBUTES and not k.endswith("_id")
             and all(rating(rec.get(k)) for _, rec in records)]
    ignored = [k for k in cols if k not in attrs]
    if ignored and (where, *ignored) not in _SAID:
        _SAID.add((where, *ignored))
        print(f"{where}: {len(ignored)} column(s) ignored ({', '.join(ignored)}): not attributes (name one as the "
              f"objective or in the weights to use it)", file=sys.stderr)
    return attrs


_SAID = set()  # (file, ignored columns) already said: a train and a validation split read one file twice


# ----------------------------------------------------------------------------- one record -> rows / pairs (pure)
def rated_row(rec, attributes, where="records", row=1):
    """One rated row: prompt, response, one 0-4 number per attribute."""
    out = {"prompt": _text(rec, "prompt", where, row, "rated"), "response": _text(rec, "response", where, row, "rated")}
    for a in attributes:
        if a not in rec:
            raise _bad(where, row, a, "missing (rated shape detected)", "give every row every attribute")
        out[a] = _number(rec[a], where, row, a, 0, RATING_MAX, f"the column's values must be numbers 0-{RATING_MAX} "
                         "(HelpSteer's scale): rescale it")
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
    return [{"prompt": prompt, "chosen": chosen, "rejected": rejected, "objective": objective}]


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
    return [{"prompt": prompt, "chosen": c, "rejected": r, "objective": objective}]


def conversational_pair(rec, objective, where="records", row=1):
    """TRL's conversational pairs: chosen / rejected message lists (after `prompt` messages, when given) that share
    every turn but their last, an assistant turn: that shared prefix is the prompt (one user turn: its text; several:
    'Role: text' paragraphs), the two last turns the responses."""
    fix = ("write chosen and rejected as [{role, content}, ...] lists that share every turn but the last, an "
           "assistant turn (conversational pairs shape detected)")
    parts = {}
    for field in ("prompt", "chosen", "rejected"):
        v = rec.get(field)
        if field == "prompt" and not isinstance(v, list):  # none, or text (UltraFeedback-binarized repeats turn 1)
            parts[field] = []
        elif isinstance(v, list) and all(isinstance(m, dict) and m.get("role") and isinstance(m.get("content"), str)
                                         for m in v):
            parts[field] = [(m["role"], m["content"]) for m in v]
        else:
            raise _bad(where, row, field, "not a list of {role, content} messages", fix)
    turns = {field: parts["prompt"] + parts[field] for field in ("chosen", "rejected")}
    for field, t in turns.items():
        if len(t) < 2 or t[-1][0] != "assistant" or not t[-1][1].strip():
            raise _bad(where, row, field, "its last turn is not a non-empty assistant turn after a prompt", fix)
    if turns["chosen"][:-1] != turns["rejected"][:-1]:
        raise _bad(where, row, "rejected", "its turns before the last differ from chosen's", fix)
    shared = turns["chosen"][:-1]
    text = shared[0][1] if len(shared) == 1 else "\n\n".join(f"{r.capitalize()}: {c}" for r, c in shared)
    label = rec.get("objective") or objective or "preference"
    return [] if objective and label != objective else [
        {"prompt": text, "chosen": turns["chosen"][-1][1], "rejected": turns["rejected"][-1][1], "objective": label}]


def pair_record(rec, objective, where="records", row=1):
    """Pair format; an objective column, when present, must match the requested objective (else the row is left out)."""
    p, c, r = (_text(rec, f, where, row, "pairs") for f in ("prompt", "chosen", "rejected"))
    label = rec.get("objective") or objective or "preference"
    return [] if objective and label != objective else [{"prompt": p, "chosen": c, "rejected": r, "objective": label}]


# ----------------------------------------------------------------------------- all records of a source
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


def rows_of(where, shape, records, strict, named=()):
    """Rated rows of a rated or UltraFeedback source; named: the attributes asked for (rating_columns)."""
    if shape == "UltraFeedback":
        return _map(records, ultrafeedback_rows, where, strict)
    if shape != "rated":
        raise ValueError(f"{where}: {shape} shape detected: it holds pairs, not rated rows; use load_pairs instead")
    attrs = rating_columns(records, named, where)
    return _map(records, lambda rec, w, r: [rated_row(rec, attrs, w, r)], where, strict)


def pairs_of(where, shape, records, strict, objective):
    """(pairs, objective) of a pairwise source (PKU-SafeRLHF, hh-rlhf, pairs); the objective checked against it."""
    objective = objective or ("helpfulness" if shape == "hh-rlhf" else None)
    known = PAIRWISE[shape] or sorted({rec["objective"] for _, rec in records if rec.get("objective")})
    if (objective or shape != "pairs") and known and objective not in known:
        raise ValueError(f"{where}: unknown objective {objective!r} for the {shape} shape; "
                         f"objectives present: {', '.join(known)}")
    if objective and not known:  # unlabelled pairs take any name, a label only; a typo of a known one is refused
        near = difflib.get_close_matches(objective, TOY_ATTRIBUTES, n=1, cutoff=0.8)
        if near and near[0] != objective:
            raise ValueError(f"{where}: --objective {objective}: did you mean {near[0]}? (the file has no objective "
                             f"column, so any name is taken as a label; pass --objective {near[0]})")
        if (where, objective) not in _NOTED:  # once, though train and validation are read apart
            _NOTED.add((where, objective))
            print(f"note: {where} has no objective column: --objective {objective} is a label only (every pair is "
                  "used as is)", file=sys.stderr)
    fn = {"PKU-SafeRLHF": pku_pair, "hh-rlhf": hh_pair, "pairs": pair_record,
          "conversational": conversational_pair}[shape]
    return _map(records, lambda rec, w, r: fn(rec, objective, w, r), where, strict), objective
