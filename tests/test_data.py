"""data.py (+ hub_data.py): every loader on local fixtures in each hub shape, bad input, degenerate pairs, pairs,
splits, tokenization, the command line."""
import json

import pytest
import torch

import data
from plumbing.cli import run_cli

ASPECTS = ("helpfulness", "correctness", "coherence", "complexity", "verbosity")
HS = [dict(prompt=p, response=r, **dict(zip(ASPECTS, v))) for p, r, v in  # HelpSteer shape
      [("p1", "a", (0, 2, 4, 1, 3)), ("p1", "b", (3, 2, 4, 1, 0)),
       ("p2", "c", (1, 2, 4, 1, 1)), ("p2", "d", (1, 2, 4, 1, 2))]]


def write_jsonl(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return str(path)


def write_parquet(path, records):
    import pyarrow as pa
    import pyarrow.parquet as pq
    pq.write_table(pa.Table.from_pylist(records), str(path))
    return str(path)


def uf_completion(response, h, honesty="3"):
    ann = {"helpfulness": {"Rating": h, "Rationale": "r"}, "honesty": {"Rating": honesty, "Rationale": "r"},
           "instruction_following": {"Rating": "4", "Rationale": "r"},
           "truthfulness": {"Rating": "5", "Rationale": "r", "Type": ["0"]}}
    return {"response": response, "annotations": ann, "model": "m", "critique": "c"}


def pku(prompt, better, safer):
    return {"prompt": prompt, "response_0": f"{prompt} r0", "response_1": f"{prompt} r1", "is_response_0_safe": True,
            "is_response_1_safe": False, "better_response_id": better, "safer_response_id": safer}


HH = [
    {"chosen": "\n\nHuman: hi\n\nAssistant: hello\n\nHuman: cake?\n\nAssistant: mix flour and bake.",
     "rejected": "\n\nHuman: hi\n\nAssistant: hello\n\nHuman: cake?\n\nAssistant: no."},
    {"chosen": "\n\nHuman: moon?\n\nAssistant:  it orbits earth. ",
     "rejected": "\n\nHuman: moon?\n\nAssistant: cheese"},
]


# ----------------------------------------------------------------------------- loaders on hub-shaped fixtures
def test_helpsteer_jsonl(tmp_path):
    path = write_jsonl(tmp_path / "hs.jsonl", HS)
    rows = data.load_rows(path, split="all")
    assert rows == HS
    pairs = data.load_pairs(path, objective="helpfulness", split="all")
    assert pairs == [{"prompt": "p1", "chosen": "b", "rejected": "a", "objective": "helpfulness"}]  # p2 tie dropped
    assert len(data.load_pairs(path, objective="verbosity", split="all")) == 2


def test_ultrafeedback_jsonl_with_na(tmp_path):
    long = " ".join(["w"] * 120)  # 120 words -> verbosity bucket 2 (100 <= w < 200)
    rec = {"instruction": "q", "source": "s",
           "completions": [uf_completion("short one", "1"), uf_completion(long, "5", honesty="N/A"),
                           uf_completion("mid", "3")]}
    path = write_jsonl(tmp_path / "uf.jsonl", [rec])
    rows = data.load_rows(path, split="all")
    assert [r["helpfulness"] for r in rows] == [0, 4, 2]
    assert [r["honesty"] for r in rows] == [2, None, 2]
    assert [r["verbosity"] for r in rows] == [0, 2, 0]
    assert rows[0]["truthfulness"] == 4 and rows[0]["instruction_following"] == 3
    assert len(data.load_pairs(path, objective="helpfulness", split="all")) == 3
    with pytest.raises(ValueError, match="no pairs for objective 'honesty'"):  # N/A skipped, remaining two tie
        data.load_pairs(path, objective="honesty", split="all")


def test_pku_parquet(tmp_path):
    path = write_parquet(tmp_path / "pku.parquet", [pku("x", 1, 0), pku("y", 0, 0)])
    helpful = data.load_pairs(path, objective="helpfulness", split="all")
    assert [(p["chosen"], p["rejected"]) for p in helpful] == [("x r1", "x r0"), ("y r0", "y r1")]
    safe = data.load_pairs(path, objective="safety", split="all")
    assert [p["chosen"] for p in safe] == ["x r0", "y r0"] and {p["objective"] for p in safe} == {"safety"}
    with pytest.raises(ValueError, match="unknown objective 'verbosity'.*helpfulness, safety"):
        data.load_pairs(path, objective="verbosity", split="all")
    with pytest.raises(ValueError, match="PKU-SafeRLHF shape detected.*load_pairs"):
        data.load_rows(path, split="all")
    with pytest.raises(ValueError, match="weights need rated rows"):
        data.load_pairs(path, weights="helpfulness=1", split="all")


def test_hh_jsonl(tmp_path):
    path = write_jsonl(tmp_path / "hh.jsonl", HH)
    pairs = data.load_pairs(path, objective="harmlessness", split="all")
    assert pairs[0] == {"prompt": "\n\nHuman: hi\n\nAssistant: hello\n\nHuman: cake?\n\nAssistant:",
                        "chosen": "mix flour and bake.", "rejected": "no.", "objective": "harmlessness"}
    assert pairs[1]["prompt"] == "\n\nHuman: moon?\n\nAssistant:" and pairs[1]["chosen"] == "it orbits earth."
    assert data.load_pairs(path, split="all")[0]["objective"] == "helpfulness"


def test_rated_parquet_and_pair_jsonl(tmp_path):
    rows = [{"prompt": "p", "response": f"r{i}", "id": 100 + i, "helpfulness": h, "safety": 4 - h}
            for i, h in enumerate([0, 2, 4])]
    path = write_parquet(tmp_path / "rated.parquet", rows)
    loaded = data.load_rows(path, split="all")
    assert loaded == [{k: v for k, v in r.items() if k != "id"} for r in rows]  # ids are not attributes
    pairs_path = write_jsonl(tmp_path / "pairs.jsonl", [
        {"prompt": "p", "chosen": "good", "rejected": "bad", "objective": "safety"},
        {"prompt": "q", "chosen": "yes", "rejected": "no", "objective": "helpfulness"}])
    assert [p["chosen"] for p in data.load_pairs(pairs_path, objective="safety", split="all")] == ["good"]
    assert len(data.load_pairs(pairs_path, split="all")) == 2
    plain = write_jsonl(tmp_path / "plain.jsonl", [{"prompt": "p", "chosen": "a", "rejected": "b"}])
    assert data.load_pairs(plain, objective="concise", split="all")[0]["objective"] == "concise"
    assert data.load_pairs(plain, split="all")[0]["objective"] == "preference"
    with pytest.raises(ValueError, match="unknown objective 'verbosity' for the pairs shape; "
                                         "objectives present: helpfulness, safety"):
        data.load_pairs(pairs_path, objective="verbosity", split="all")


def test_json_array_file(tmp_path):
    path = tmp_path / "rows.json"
    path.write_text(json.dumps(HS))
    assert data.load_rows(str(path), split="all") == HS


def test_hub_names_map_through_load_dataset(tmp_path, monkeypatch):
    """No network: load_dataset is replaced by local records in the hub's shape; checks name, data_dir, split."""
    import datasets
    calls = []

    def fake_load_dataset(name, data_dir=None, split=None):
        calls.append((name, data_dir, split))
        records = {"Anthropic/hh-rlhf": HH, "PKU-Alignment/PKU-SafeRLHF": [pku("x", 1, 0)], "nvidia/HelpSteer": HS}
        return datasets.Dataset.from_list(records[name])

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    assert len(data.load_pairs("Anthropic/hh-rlhf:harmless-base", split="all")) == 2
    assert data.load_pairs("Anthropic/hh-rlhf", objective="harmlessness", split="all")[0]["objective"] == "harmlessness"
    assert data.load_pairs("PKU-Alignment/PKU-SafeRLHF", objective="safety", split="hub:test")[0]["chosen"] == "x r0"
    assert data.load_rows("nvidia/HelpSteer", split="hub:validation", limit=3) == HS[:3]
    assert calls == [("Anthropic/hh-rlhf", "harmless-base", "train"), ("Anthropic/hh-rlhf", "harmless-base", "train"),
                     ("PKU-Alignment/PKU-SafeRLHF", None, "test"), ("nvidia/HelpSteer", None, "validation")]
    with pytest.raises(ValueError, match="means objective harmlessness, not helpfulness"):
        data.load_pairs("Anthropic/hh-rlhf:harmless-base", objective="helpfulness")
    with pytest.raises(ValueError, match="holds pairs, not rated rows"):
        data.load_rows("PKU-Alignment/PKU-SafeRLHF")
    assert len(calls) == 4  # refused before any download


def test_toy_source_and_splits():
    rows = data.load_rows("toy", split="all", limit=200)
    assert len(rows) == 200 and {"prompt", "response", "helpfulness", "verbosity", "safety"} <= set(rows[0])
    pairs = data.load_pairs("toy", objective="helpfulness", split="all", limit=200)
    assert pairs == data.make_pairs(rows, objective="helpfulness")
    parts = [data.load_pairs("toy", objective="helpfulness", split=s, limit=200) for s in data.SPLITS]
    assert sum(map(len, parts)) == len(pairs)
    assert [data.load_rows("toy", split=s, limit=200) for s in data.SPLITS] == list(data.split_by_prompt(rows))


def test_toy_correlation_passes_through(tmp_path):
    import toyworld
    for c in (0.0, 0.9):
        rows = data.load_rows("toy", split="all", limit=2000, correlation=c)
        assert rows == toyworld.make_rows(500, seed=0, correlation=c)
        assert abs(toyworld.label_correlation(rows) - c) < 0.05
    assert data.load_rows("toy", split="all", limit=40) == data.load_rows("toy", split="all", limit=40,
                                                                        correlation=toyworld.DEFAULT_CORRELATION)
    texts = lambda obj, c: [(p["prompt"], p["chosen"], p["rejected"])
                            for p in data.load_pairs("toy", obj, split="test", limit=400, correlation=c)]
    assert texts("verbosity", 1.0) == texts("helpfulness", 1.0) != texts("helpfulness", 0.0)  # at 1, v = h
    path = write_jsonl(tmp_path / "hs.jsonl", HS)
    for load in (data.load_rows, data.load_pairs):
        with pytest.raises(ValueError, match=r"hs.jsonl: correlation=0.5 is a knob of the toy world only"):
            load(path, split="all", correlation=0.5)
    with pytest.raises(ValueError, match="out of reach"):
        data.load_rows("toy", correlation=-0.9)


@pytest.mark.parametrize("objective,control", [("helpfulness", "verbosity"), ("verbosity", "helpfulness")])
def test_controlled_pairs_are_what_they_claim_by_the_oracle(objective, control):
    import toyworld
    kw = dict(split="train", limit=1200, correlation=0.75)
    controlled = data.load_pairs("toy", objective, control=control, **kw)
    for p in controlled:  # the oracle, not the row labels: the objective differs, the control is equal
        c, r = toyworld.score(p["prompt"], p["chosen"]), toyworld.score(p["prompt"], p["rejected"])
        assert c[objective] > r[objective] and c[control] == r[control] and p["objective"] == objective
    # and none is missing: the plain pairs whose two responses the oracle scores equal on the control
    plain = data.load_pairs("toy", objective, **kw)
    same = [p for p in plain if toyworld.score(p["prompt"], p["chosen"])[control]
            == toyworld.score(p["prompt"], p["rejected"])[control]]
    assert controlled == same and 20 < len(controlled) < len(plain)


def test_control_rules(tmp_path):
    rows = [{"prompt": "p", "response": r, "helpfulness": h, "verbosity": v, "safety": s}
            for r, h, v, s in [("a", 0, 1, 4), ("b", 2, 1, None), ("c", 3, 1, 4), ("d", 4, 3, 4)]]
    pairs = data.make_pairs(rows, objective="helpfulness", control="verbosity")
    assert [(p["chosen"], p["rejected"]) for p in pairs] == [("b", "a"), ("c", "a"), ("c", "b")]
    both = data.make_pairs(rows, objective="helpfulness", control=["verbosity", "safety"])  # None: no pair on it
    assert [(p["chosen"], p["rejected"]) for p in both] == [("c", "a")]
    capped = data.make_pairs(rows, objective="helpfulness", control="verbosity", max_pairs_per_prompt=1)
    assert [(p["chosen"], p["rejected"]) for p in capped] == [("c", "a")]  # filtered first, then the largest gap
    assert len(data.make_pairs(rows, weights="helpfulness=1,verbosity=-1", control="safety")) == 3
    for kw, msg in ((dict(objective="helpfulness", control="length"), "unknown attribute 'length' in control"),
                    (dict(objective="verbosity", control="verbosity"), "holding the objective 'verbosity' fixed"),
                    (dict(weights="verbosity=-1", control="verbosity"), "leaves no pairs"),
                    (dict(objective="helpfulness", control=""), "give an attribute name")):
        with pytest.raises(ValueError, match=msg):
            data.make_pairs(rows, **kw)
    pairs_path = write_jsonl(tmp_path / "pairs.jsonl", [{"prompt": "p", "chosen": "a", "rejected": "b"}])
    with pytest.raises(ValueError, match="pairs.jsonl: pairs shape detected: control='verbosity' needs rated rows"):
        data.load_pairs(pairs_path, split="all", control="verbosity")
    with pytest.raises(ValueError, match="Anthropic/hh-rlhf holds fixed pairs"):  # before any download
        data.load_pairs("Anthropic/hh-rlhf", split="train", control="verbosity")
    with pytest.raises(ValueError, match=r"no pairs for objective 'helpfulness' at equal verbosity in split 'all'; "
                                         "no two responses"):
        data.load_pairs("toy", "helpfulness", split="all", limit=400, correlation=1.0, control="verbosity")


# ----------------------------------------------------------------------------- bad input: one clear line
def bad_cases(tmp_path):
    hs = lambda **kw: [HS[0], {**HS[1], **kw}]
    yield write_jsonl(tmp_path / "nocol.jsonl", [HS[0], {k: v for k, v in HS[1].items() if k != "verbosity"}]), \
        "row 2: field 'verbosity': missing"
    yield write_jsonl(tmp_path / "emptyp.jsonl", hs(prompt="  ")), "row 2: field 'prompt': empty"
    yield write_jsonl(tmp_path / "emptyr.jsonl", hs(response="")), "row 2: field 'response': empty"
    yield write_jsonl(tmp_path / "nan.jsonl", hs(helpfulness="great")), \
        "row 2: field 'helpfulness': rating 'great' is not a number"
    yield write_jsonl(tmp_path / "range.jsonl", hs(verbosity=7)), "row 2: field 'verbosity': rating 7 is outside 0-4"
    yield write_parquet(tmp_path / "neg.parquet", hs(coherence=-1)), \
        "row 2: field 'coherence': rating -1 is outside 0-4"
    uf = {"instruction": "q", "completions": [uf_completion("a", "6")]}
    yield write_jsonl(tmp_path / "uf.jsonl", [uf]), r"row 1: field 'completions\[0\].annotations.helpfulness.Rating'"
    bad_json = tmp_path / "broken.jsonl"
    bad_json.write_text(json.dumps(HS[0]) + "\n\n" + '{"prompt": "p", "response":\n')
    yield str(bad_json), "row 3: malformed JSON"
    csv = tmp_path / "rows.csv"
    csv.write_text("prompt,response\n")
    yield str(csv), "unsupported file type '.csv'"
    fake = tmp_path / "fake.parquet"
    fake.write_text("not parquet")
    yield str(fake), "not a readable Parquet file"
    binary = tmp_path / "binary.jsonl"
    binary.write_bytes(b"\xff\xfe\x00junk")
    yield str(binary), "not a readable UTF-8 JSON file"
    yield write_jsonl(tmp_path / "list.jsonl", [HS[0], [1, 2]]), "row 2: no JSON object"
    yield write_jsonl(tmp_path / "weird.jsonl", [{"question": "q", "answer": "a"}]), "match no known shape"
    pku_missing = {k: v for k, v in pku("x", 1, 0).items() if k != "better_response_id"}
    yield write_parquet(tmp_path / "pku.parquet", [pku_missing]), \
        r"row 1: field 'better_response_id': missing \(PKU-SafeRLHF shape detected\)"
    yield write_jsonl(tmp_path / "hh.jsonl", [{"chosen": "\n\nHuman: a\n\nAssistant: b", "rejected": "x"}]), \
        "row 1: field 'chosen': no shared"


def test_bad_inputs_name_file_row_field(tmp_path):
    for path, expected in bad_cases(tmp_path):
        with pytest.raises(ValueError, match=expected) as err:
            objective = "helpfulness"
            data.load_pairs(path, objective=objective, split="all")
        msg = str(err.value)
        assert msg.startswith(path) and "\n" not in msg, msg


def test_unknown_objective_and_source(tmp_path):
    path = write_jsonl(tmp_path / "hs.jsonl", HS)
    with pytest.raises(ValueError, match=r"hs.jsonl: unknown attribute 'safety'.*present: helpfulness, correctness"):
        data.load_pairs(path, objective="safety", split="all")
    with pytest.raises(ValueError, match="unknown attribute 'style'"):
        data.load_pairs(path, weights="helpfulness=1,style=2", split="all")
    with pytest.raises(ValueError, match="nope.jsonl: file not found"):
        data.load_rows("nope.jsonl")
    with pytest.raises(ValueError, match="unknown source 'nope'"):
        data.load_rows("nope")
    with pytest.raises(ValueError, match="hs.jsonl: no pairs for objective 'correctness'"):
        data.load_pairs(path, objective="correctness", split="all")


def test_parse_weights():
    assert data.parse_weights("helpfulness=0.7, verbosity=-0.3") == {"helpfulness": 0.7, "verbosity": -0.3}
    for bad in ["helpfulness", "helpfulness=abc", "=1", "a=1,a=2", "a=1,,b=2", ""]:
        with pytest.raises(ValueError, match="cannot parse.*name=number"):
            data.parse_weights(bad)
    assert data.weights_label("verbosity=-0.3,helpfulness=0.70") == "helpfulness=0.7,verbosity=-0.3"


# ----------------------------------------------------------------------------- degenerate pairs and empty splits
def test_identical_chosen_and_rejected_dropped_everywhere_with_count(tmp_path, capsys):
    pairs_path = write_jsonl(tmp_path / "pairs.jsonl", [{"prompt": "p", "chosen": "same", "rejected": "same"},
                                                       {"prompt": "q", "chosen": "yes", "rejected": "no"},
                                                       {"prompt": "r", "chosen": "x", "rejected": "x"}])
    capsys.readouterr()
    assert [p["prompt"] for p in data.load_pairs(pairs_path, split="all")] == ["q"]
    assert f"{pairs_path}: dropped 2 of 3 pairs in split 'all'" in capsys.readouterr().err
    # the same rule on every other shape: PKU with two equal responses, hh-rlhf with equal replies, one text rated twice
    pku_same = {**pku("x", 1, 0), "response_1": "x r0"}
    pku_path = write_parquet(tmp_path / "pku.parquet", [pku_same, pku("y", 0, 0)])
    assert [p["prompt"] for p in data.load_pairs(pku_path, objective="safety", split="all")] == ["y"]
    assert f"{pku_path}: dropped 1 of 2 pairs" in capsys.readouterr().err
    hh_same = {"chosen": "\n\nHuman: a\n\nAssistant: b ", "rejected": "\n\nHuman: a\n\nAssistant: b"}
    hh_path = write_jsonl(tmp_path / "hh.jsonl", [hh_same] + HH)
    assert len(data.load_pairs(hh_path, split="all")) == 2
    assert f"{hh_path}: dropped 1 of 3 pairs" in capsys.readouterr().err
    rated = [{"prompt": "p", "response": r, "helpfulness": h} for r, h in (("a", 1), ("a", 3), ("b", 0))]
    rated_path = write_jsonl(tmp_path / "rated.jsonl", rated)
    got = data.load_pairs(rated_path, objective="helpfulness", split="all")
    assert [(p["chosen"], p["rejected"]) for p in got] == [("a", "b"), ("a", "b")]
    assert f"{rated_path}: dropped 1 of 3 pairs" in capsys.readouterr().err
    data.load_pairs(write_jsonl(tmp_path / "hs.jsonl", HS), objective="helpfulness", split="all")
    assert "dropped" not in capsys.readouterr().err  # nothing dropped, nothing said


def test_all_degenerate_file_refused_naming_file_and_split(tmp_path, capsys):
    path = write_jsonl(tmp_path / "same.jsonl", [{"prompt": f"p{i}", "chosen": "x", "rejected": "x"} for i in range(2)])
    capsys.readouterr()
    with pytest.raises(ValueError) as err:
        data.load_pairs(path, split="all")
    msg = str(err.value)
    assert msg.startswith(f"{path}: no pairs") and "split 'all'" in msg and "\n" not in msg
    assert "all 2 had the chosen text equal to the rejected text" in msg
    assert capsys.readouterr().err == ""  # the error is the one line: no separate note
    with pytest.raises(SystemExit) as err:  # the command line: the same one line, exit status 1
        run_cli(data.main, ["--source", path])
    assert isinstance(err.value.code, str) and path in err.value.code and "\n" not in err.value.code


def test_empty_split_says_what_to_do(tmp_path):
    path = write_jsonl(tmp_path / "one.jsonl", [{"prompt": "p", "chosen": "a", "rejected": "b"}])
    lands = next(s for s, part in zip(data.SPLITS, data.split_by_prompt([{"prompt": "p"}])) if part)
    other = next(s for s in data.SPLITS if s != lands)
    with pytest.raises(ValueError, match=f"{path}: no pairs .* in split '{other}'; .*give more prompts or use split 'all'"):
        data.load_pairs(path, split=other)
    assert len(data.load_pairs(path, split=lands)) == 1


def test_command_line(tmp_path, capsys):
    for argv in (["--limit", "0"], ["--max-pairs-per-prompt", "-1"], ["--seed", "1.5"], ["--weights", "helpfulness"],
                 ["--objective", "helpfulness", "--weights", "helpfulness=1"], ["--correlation", "1.5"],
                 ["--source", str(tmp_path / "x.jsonl"), "--correlation", "0.5"]):
        with pytest.raises(SystemExit) as err:
            data.main(argv)
        assert err.value.code == 2, argv  # usage errors, at parse time
    with pytest.raises(SystemExit, match="nope.jsonl: file not found"):
        run_cli(data.main, ["--source", str(tmp_path / "nope.jsonl")])
    capsys.readouterr()
    run_cli(data.main, ["--source", "toy", "--limit", "40", "--seed", "-3"])
    out = capsys.readouterr().out
    assert "train:" in out and "validation:" in out and '"objective": "helpfulness"' in out
    run_cli(data.main, ["--source", "toy", "--limit", "400", "--objective", "verbosity", "--control", "helpfulness",
                        "--correlation", "0.5"])
    out = capsys.readouterr().out
    n = len(data.load_pairs("toy", "verbosity", split="all", limit=400, correlation=0.5, control="helpfulness"))
    assert '"objective": "verbosity"' in out
    counts = [int(line.split(":")[1].split()[0]) for line in out.splitlines() if " pairs, " in line]
    assert sum(counts) == n


# ----------------------------------------------------------------------------- pairs
def group(ratings, prompt="p", attr="helpfulness"):
    return [{"prompt": prompt, "response": f"{prompt}{i}", attr: v} for i, v in enumerate(ratings)]


def test_make_pairs_counts_and_order():
    rows = group([0, 1, 1, 3])
    pairs = data.make_pairs(rows, objective="helpfulness")
    assert len(pairs) == 5  # 6 combinations minus the 1-1 tie
    score = {r["response"]: r["helpfulness"] for r in rows}
    assert all(score[p["chosen"]] > score[p["rejected"]] for p in pairs)
    assert [(p["chosen"], p["rejected"]) for p in pairs] == [("p1", "p0"), ("p2", "p0"), ("p3", "p0"),
                                                             ("p3", "p1"), ("p3", "p2")]
    # independent count: every unordered pair with distinct ratings, over two prompts
    rows2 = rows + group([2, 2, 4, 0, 1], prompt="q")
    expected = sum(a["helpfulness"] != b["helpfulness"] for i, a in enumerate(rows2) for b in rows2[i + 1:]
                   if a["prompt"] == b["prompt"])
    assert len(data.make_pairs(rows2, objective="helpfulness")) == expected == 5 + 9
    capped = data.make_pairs(rows, objective="helpfulness", max_pairs_per_prompt=2)
    assert [(p["chosen"], p["rejected"]) for p in capped] == [("p3", "p0"), ("p3", "p1")]  # largest gaps, in order
    assert data.make_pairs(rows, objective="helpfulness") == pairs  # deterministic


def test_make_pairs_scalarized_negative_weight():
    rows = [{"prompt": "p", "response": r, "helpfulness": h, "verbosity": v}
            for r, h, v in [("long good", 4, 4), ("short good", 3, 0), ("short bad", 0, 0), ("tie", 3, 0)]]
    pairs = data.make_pairs(rows, weights="helpfulness=0.7,verbosity=-0.3")
    s = {r["response"]: 0.7 * r["helpfulness"] - 0.3 * r["verbosity"] for r in rows}  # 1.6, 2.1, 0, 2.1
    assert all(s[p["chosen"]] > s[p["rejected"]] for p in pairs)
    assert len(pairs) == 5 and {p["objective"] for p in pairs} == {"helpfulness=0.7,verbosity=-0.3"}
    assert ("short good", "long good") in [(p["chosen"], p["rejected"]) for p in pairs]  # plain helpfulness disagrees
    with pytest.raises(ValueError, match="exactly one"):
        data.make_pairs(rows)


def test_split_by_prompt_no_leak_and_deterministic():
    items = [{"prompt": f"prompt {i % 50}", "k": i} for i in range(400)]
    train, val, test = data.split_by_prompt(items, seed=3)
    sets = [{x["prompt"] for x in part} for part in (train, val, test)]
    assert not (sets[0] & sets[1] or sets[0] & sets[2] or sets[1] & sets[2])
    assert len(train) + len(val) + len(test) == 400 and len(train) > len(val) > 0 and len(test) > 0
    assert data.split_by_prompt(items, seed=3) == (train, val, test)
    assert data.split_by_prompt(list(reversed(items)), seed=3)[1] == list(reversed(val))  # order-free membership
    assert data.split_by_prompt(items, seed=4) != (train, val, test)


# ----------------------------------------------------------------------------- tokenization
def enc(tok, s):
    return tok(s, add_special_tokens=False)["input_ids"]


def test_tokenize_and_collate(tiny_tokenizer):
    tok = tiny_tokenizer
    pairs = [{"prompt": "how do i make a cake ?", "chosen": " mix flour .", "rejected": " no ."},
             {"prompt": "tell me about the moon .", "chosen": " the moon goes around the earth .",
              "rejected": " well ."}]
    tokd = data.tokenize_pairs(tok, pairs, max_length=64)
    for t, p in zip(tokd, pairs):
        assert t["prompt_ids"] == enc(tok, p["prompt"])
        assert t["chosen_ids"] == enc(tok, p["chosen"]) + [tok.eos_token_id]
        assert t["rejected_ids"][-1] == tok.eos_token_id
    batch = data.collate_pairs(tokd, pad_id=tok.pad_token_id)
    ids, mask, labels = batch["input_ids"], batch["attention_mask"], batch["labels"]
    T = max(len(t["prompt_ids"]) + len(t[k]) for t in tokd for k in ("chosen_ids", "rejected_ids"))
    assert ids.shape == mask.shape == labels.shape == (4, T) and ids.dtype == torch.long
    for i, (t, key) in enumerate([(tokd[0], "chosen_ids"), (tokd[1], "chosen_ids"),
                                  (tokd[0], "rejected_ids"), (tokd[1], "rejected_ids")]):
        n_p, n = len(t["prompt_ids"]), len(t["prompt_ids"]) + len(t[key])
        assert ids[i, :n].tolist() == t["prompt_ids"] + t[key]  # chosen rows first, then rejected
        assert labels[i].tolist() == [-100] * n_p + t[key] + [-100] * (T - n)
        assert mask[i].tolist() == [1] * n + [0] * (T - n)
        assert (ids[i, n:] == tok.pad_token_id).all()
    fixed = data.collate_pairs(tokd, pad_id=tok.pad_token_id, pad_to=40)
    assert fixed["input_ids"].shape == (4, 40) and torch.equal(fixed["labels"][:, :T], labels)
    with pytest.raises(ValueError, match="pad_to"):
        data.collate_pairs(tokd, pad_id=0, pad_to=3)


def test_truncation_cuts_prompt_left_then_response_right(tiny_tokenizer):
    tok = tiny_tokenizer
    pair = {"prompt": "how do i care for a cat ? tell me about the moon . how do i make a cake ?",
            "chosen": " cats need water and food every day . mix flour , eggs and sugar , then bake it .",
            "rejected": " no ."}
    p, c = enc(tok, pair["prompt"]), enc(tok, pair["chosen"]) + [tok.eos_token_id]
    t = data.tokenize_pair(tok, pair, max_length=16, max_prompt_length=5)
    assert t["prompt_ids"] == p[-5:]  # the end of the prompt survives
    assert t["chosen_ids"] == c[:11]  # then the response is cut from the right to 16 - 5
    assert t["rejected_ids"] == enc(tok, " no .") + [tok.eos_token_id]
    t = data.tokenize_pair(tok, pair, max_length=len(p) + len(c))  # fits: nothing cut
    assert t["prompt_ids"] == p and t["chosen_ids"] == c
    t = data.tokenize_pair(tok, {**pair, "chosen": " no ."}, max_length=len(p) + 2)  # default max_prompt_length
    assert t["prompt_ids"] == p[-((len(p) + 2) // 2):]
    with pytest.raises(ValueError, match="max_prompt_length"):
        data.tokenize_pair(tok, pair, max_length=8, max_prompt_length=8)


def test_chat_template_path(tiny_tokenizer):
    import copy
    tok = copy.deepcopy(tiny_tokenizer)
    assert data.format_prompt(tok, "hi") == "hi"
    tok.chat_template = ("{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}\n{% endfor %}"
                         "{% if add_generation_prompt %}<assistant>{% endif %}")
    assert data.format_prompt(tok, "tell me about the moon .") == "<user>tell me about the moon .\n<assistant>"
    t = data.tokenize_pair(tok, {"prompt": "hi", "chosen": " yes", "rejected": " no"})
    assert t["prompt_ids"] == enc(tok, "<user>hi\n<assistant>")
