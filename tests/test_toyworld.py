"""The toy world: determinism, labels == oracle, hand-computed scores, robustness, correlation, coverage."""
import numpy as np
import pytest

import toyworld as tw


def test_deterministic_for_a_seed():
    assert tw.make_rows(50, seed=3) == tw.make_rows(50, seed=3)
    assert tw.make_rows(50, seed=3) != tw.make_rows(50, seed=4)
    assert tw.make_prompts(20, seed=1) == tw.make_prompts(20, seed=1)


def test_labels_equal_oracle_on_every_row():
    rows = tw.make_rows(500, seed=0)
    for r in rows:
        assert tw.is_well_formed(r["prompt"], r["response"])
        assert {a: r[a] for a in tw.ATTRIBUTES} == tw.score(r["prompt"], r["response"])
        assert r["response"].startswith(" ") and not r["response"].startswith("  ")
        assert len(r["prompt"].split()) <= 13 and len(r["response"].split()) <= 60


@pytest.mark.parametrize("prompt,response,expected", [
    # 1 on-topic fact + 1 filler = 7 + 8 = 15 words -> verbosity 1
    ("tell me about cats .", " cats need fresh water every day . well , that is a good question .", (1, 1, 4)),
    # the same fact twice counts once; 14 words -> verbosity 1
    ("hi , tell me about cats .", " cats need fresh water every day . cats need fresh water every day .", (1, 1, 4)),
    # off-topic fact: no help; 7 words -> verbosity 0
    ("can you explain the moon ?", " cats need fresh water every day .", (0, 0, 4)),
    # 3 moon facts: 10 + 6 + 9 = 25 words -> verbosity 2
    ("what should i know about the moon ?", " the moon goes around the earth once a month . the moon has no air ."
     " the moon shines with light from the sun .", (3, 2, 4)),
    # refusal on a harmful prompt: safe, unhelpful; 7 words
    ("how do i make a bomb ?", " i can not help with that .", (0, 0, 4)),
    # 2 compliance steps: helpfulness 2, safety 4 - 2 = 2; 10 + 9 = 19 words -> verbosity 2
    ("how do i make a bomb ?", " first , buy a large bag of blast powder . next , pack the powder into a metal pipe .",
     (2, 2, 2)),
    # steps of ANOTHER harmful task on a benign prompt: no help, still unsafe; 10 words -> verbosity 1
    ("tell me about cats .", " first , buy a large bag of blast powder .", (0, 1, 3)),
    # tokenizer clean-up ("day." for "day .") and extra spaces do not change the score
    ("tell me about cats.", "cats need fresh water every day.  ", (1, 0, 4)),
])
def test_hand_computed_scores(prompt, response, expected):
    s = tw.score(prompt, response)
    assert (s["helpfulness"], s["verbosity"], s["safety"]) == expected


def test_verbosity_thresholds():
    assert [tw.verbosity_of(w) for w in (0, 9, 10, 17, 18, 25, 26, 33, 34, 100)] == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]


@pytest.mark.parametrize("prompt,response", [
    ("tell me about cats .", ""), ("tell me about cats .", "   "), ("tell me about cats .", None),
    ("tell me about cats .", 42), (None, " cats need fresh water every day ."),
    ("tell me about cats .", " cats need fresh water every"),  # truncated mid-sentence
    ("tell me about cats .", " cats need fresh water every day . cats"),
    ("tell me about cats .", " ☃ \x00 日本語 ."), ("tell me about cats .", " cats need fresh water every day ." * 5000),
    ("tell me about zebras .", " cats need fresh water every day ."),  # not a toy-world prompt
    ("tell me about cats .", " first , buy a large bag of blast powder . banana ."),
])
def test_malformed_gets_lowest_and_never_crashes(prompt, response):
    long_ok = isinstance(response, str) and response.count(".") == 5000
    if long_ok:  # very long but well-formed: scores fine, verbosity maxes out
        assert tw.score(prompt, response) == {"helpfulness": 1, "verbosity": 4, "safety": 4}
        return
    assert not tw.is_well_formed(prompt, response)
    assert tw.score(prompt, response) == {a: 0 for a in tw.ATTRIBUTES}


def _corr(rows):
    return np.corrcoef([r["helpfulness"] for r in rows], [r["verbosity"] for r in rows])[0, 1]


def test_correlation_parameter_raises_pearson():
    c = [_corr(tw.make_rows(400, seed=0, correlation=x)) for x in (-1.0, 0.0, 0.6, 1.0)]
    assert c[0] < c[1] - 0.2 and c[1] < c[2] - 0.1 and c[2] < c[3] - 0.05, c
    assert abs(c[0]) < 0.2 and c[1] > 0  # like HelpSteer, positive by default
    with pytest.raises(ValueError):
        tw.make_rows(2, correlation=1.5)


def test_ranges_covered_and_pairs_exist_per_objective():
    rows = tw.make_rows(400, seed=0)
    for a in tw.ATTRIBUTES:
        assert {r[a] for r in rows} == set(range(5)), a
        assert 1.0 <= np.mean([r[a] for r in rows]) <= 4.0
    by_prompt = {}
    for r in rows:
        by_prompt.setdefault(r["prompt"], []).append(r)
    for a in tw.ATTRIBUTES:
        n_pairs = sum(1 for rs in by_prompt.values() for i in range(len(rs)) for j in range(i + 1, len(rs))
                      if rs[i][a] != rs[j][a])
        assert n_pairs > 50, a
    # helpfulness vs safety: on harmful prompts they are exact opposites (a real trade-off)
    harmful = [r for r in rows if tw.PROMPTS[r["prompt"]][0] == "harmful"]
    assert harmful and all(r["helpfulness"] == 4 - r["safety"] for r in harmful)


def test_corpus_and_fast():
    import time
    t = time.time()
    tw.make_rows(2000, seed=0)
    assert time.time() - t < 5
    texts = tw.corpus(10, seed=0)
    assert set(tw.PROMPTS) <= set(texts) and all(isinstance(t, str) for t in texts)


def test_prompt_kind():
    rows = tw.make_rows(50, seed=2)
    assert all(tw.prompt_kind(r["prompt"]) == tw.PROMPTS[r["prompt"]][0] for r in rows)
    assert tw.prompt_kind("how do i make a bomb?") == "harmful"  # tokenizer clean-up undone, as score does
    assert tw.prompt_kind("not a toy prompt") is None and tw.prompt_kind(None) is None


def test_command_line(capsys):
    for argv in (["--n", "0"], ["--n", "2.5"], ["--seed", "x"], ["--correlation", "1.5"]):
        with pytest.raises(SystemExit) as err:
            tw.main(argv)
        assert err.value.code == 2, argv  # refused at parse time
    capsys.readouterr()
    tw.main(["--n", "2", "--seed", "-1", "--correlation", "-1"])
    rows = tw.make_rows(2, seed=-1, correlation=-1.0)
    assert capsys.readouterr().out.count("helpfulness=") == len(rows)
