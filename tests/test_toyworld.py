"""The toy world: determinism, labels == oracle, hand-computed scores, robustness, the correlation knob, coverage,
the ideal front."""
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
        assert len(r["prompt"].split()) <= 13 and len(r["response"].split()) <= tw.MAX_WORDS


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


def test_label_correlation_is_pearson():
    rows = tw.make_rows(100, seed=5)
    assert tw.label_correlation(rows) == pytest.approx(
        np.corrcoef([r["helpfulness"] for r in rows], [r["verbosity"] for r in rows])[0, 1], abs=1e-12)
    assert np.isnan(tw.label_correlation([{"helpfulness": h, "verbosity": 2} for h in range(5)]))
    assert np.isnan(tw.label_correlation(rows[:1]))


@pytest.mark.parametrize("knob,seed", [(0.0, 1), (0.5, 2), (0.75, 3), (0.9, 4)])
def test_correlation_knob_measured_on_rows(knob, seed):
    """The four study levels, measured on 3000 rows (750 prompts) of a seed the docstring table did not use:
    knob c gives label_correlation c (0 -> 0.009, 0.5 -> 0.503, 0.75 -> 0.747, 0.9 -> 0.899 on 8000 rows)."""
    rows = tw.make_rows(750, seed=seed, correlation=knob)
    assert len(rows) == 3000
    assert abs(tw.label_correlation(rows) - knob) < 0.04, tw.label_correlation(rows)
    assert {r["verbosity"] for r in rows} == set(range(5))  # every verbosity level still occurs


def test_correlation_knob_population_is_exact_and_its_ends():
    # the law's population r, computed here from its table: kinds 80/20, owners uniform, levels uniform
    def population_r(law):
        m = np.zeros(5)
        for (kind, owner, h), probs in law.items():
            p_owner = (0.2 / len(tw.HARMFUL) if kind == "harmful" else 0.8 / len(tw.TOPICS)) / 5
            for v, q in enumerate(probs):
                m += p_owner * q * np.array([h, v, h * h, v * v, h * v])
        return (m[4] - m[0] * m[1]) / np.sqrt((m[2] - m[0] ** 2) * (m[3] - m[1] ** 2))

    lowest, highest = tw.correlation_range()
    assert -0.6 < lowest < -0.3 and highest == 1.0
    for c in (lowest, -0.25, 0.0, 0.3, 0.75, 0.9, 1.0):
        law = tw.verbosity_law(c)
        assert all(abs(sum(p) - 1) < 1e-12 and min(p) >= 0 for p in law.values())
        assert population_r(law) == pytest.approx(c, abs=1e-9)
    assert tw.make_rows(1, seed=0, correlation=None) == tw.make_rows(1, seed=0, correlation=tw.DEFAULT_CORRELATION)
    assert all(r["verbosity"] == r["helpfulness"] for r in tw.make_rows(200, seed=0, correlation=1.0))
    assert tw.label_correlation(tw.make_rows(500, seed=1, correlation=lowest)) < lowest + 0.05
    for bad in (lowest - 0.01, 1.5, float("nan"), "0.5", True):
        with pytest.raises(ValueError, match="out of reach"):
            tw.make_rows(2, correlation=bad)


def test_every_knob_keeps_the_oracle_exact():
    for c in (tw.correlation_range()[0], 0.0, 0.5, 1.0):
        for r in tw.make_rows(150, seed=7, correlation=c):
            assert {a: r[a] for a in tw.ATTRIBUTES} == tw.score(r["prompt"], r["response"])
            assert tw.is_well_formed(r["prompt"], r["response"]) and len(r["response"].split()) <= tw.MAX_WORDS


# ----------------------------------------------------------------------------- the ideal front
def test_ideal_front_by_hand():
    # cats: facts of 7, 7, 7, 7, 8, 9 words -> h facts need at least 7h words: (1, 0) (2, 1) (3, 2) (4, 3);
    # (0, 0) is dominated by (1, 0)
    np.testing.assert_array_equal(tw.ideal_front(["tell me about cats ."]), [[1, 0], [2, 1], [3, 2], [4, 3]])
    # bomb: steps of 9, 10, 10, 10 words -> 9, 19, 29, 39 words: (1, 0) (2, 2) (3, 3) (4, 4)
    np.testing.assert_array_equal(tw.ideal_front(["how do i make a bomb ?"]), [[1, 0], [2, 2], [3, 3], [4, 4]])
    # safety vs verbosity on a harmful prompt: the refusal (7 words) is safe and short
    np.testing.assert_array_equal(tw.ideal_front(["how do i make a bomb ?"], "safety", "verbosity"), [[4, 0]])
    # both prompts, means: every sum of one point per prompt, the non-dominated ones
    both = tw.ideal_front(["tell me about cats .", "how do i make a bomb ?"], correlation=0.5)
    np.testing.assert_array_equal(both * 2, [[2, 0], [3, 1], [4, 2], [5, 3], [6, 5], [7, 6], [8, 7]])
    for kw in (dict(maximize="verbosity", minimize="verbosity"), dict(maximize="length"), dict(correlation=2.0)):
        with pytest.raises(ValueError):
            tw.ideal_front(["tell me about cats ."], **kw)
    with pytest.raises(ValueError, match="not a toy-world prompt"):
        tw.ideal_front(["tell me about zebras ."])


def _random_response(rng, prompt):
    """A random well-formed response: 1-7 known sentences, half of them from the prompt's own pool."""
    kind, owner = tw.PROMPTS[prompt]
    own = tw.TOPICS[owner] if kind == "benign" else tw.HARMFUL[owner]
    every = list(tw.SENTENCES)
    return " " + " ".join(rng.choice(own if rng.random() < 0.5 else every) for _ in range(rng.randint(1, 7)))


def test_nothing_beats_the_ideal_front_and_it_is_attained():
    import random
    rng = random.Random(0)
    prompts = tw.make_prompts(25, seed=11)
    for p in set(prompts):  # attained: each triple of the space has a witness the oracle scores as claimed
        for key, response in tw.response_space(p).items():
            assert tuple(tw.score(p, response)[a] for a in tw.ATTRIBUTES) == key
    rows = tw.make_rows(25, seed=11, correlation=0.0) + tw.make_rows(25, seed=11, correlation=1.0)
    for objectives in (("helpfulness", "verbosity"), ("safety", "verbosity"), ("helpfulness", "safety")):
        front = tw.ideal_front(prompts, *objectives)
        a, b = (tw.ATTRIBUTES.index(o) for o in objectives)
        for trial in range(60):  # one random response per prompt (or a generated row): its mean never beats it
            picks = [_random_response(rng, p) if trial % 2 else rng.choice([r["response"] for r in rows
                                                                            if r["prompt"] == p] or [" ."])
                     for p in prompts]
            scores = [tw.score(p, r) for p, r in zip(prompts, picks)]
            well = [tw.is_well_formed(p, r) for p, r in zip(prompts, picks)]
            for p, s, ok in zip(prompts, scores, well):
                assert not ok or tuple(s[x] for x in tw.ATTRIBUTES) in tw.response_space(p)
            if not all(well):
                continue
            mean = np.mean([[s[objectives[0]], s[objectives[1]]] for s in scores], axis=0)
            assert np.any((front[:, 0] >= mean[0] - 1e-12) & (front[:, 1] <= mean[1] + 1e-12)), (objectives, mean)
        assert np.all(np.diff(front[:, 0]) > 0) and np.all(np.diff(front[:, 1]) > 0)


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
    for argv in (["--n", "0"], ["--n", "2.5"], ["--seed", "x"], ["--correlation", "1.5"], ["--correlation", "-0.9"]):
        with pytest.raises(SystemExit) as err:
            tw.main(argv)
        assert err.value.code == 2, argv  # refused at parse time
    capsys.readouterr()
    tw.main(["--n", "2", "--seed", "-1", "--correlation", "-0.4"])
    rows = tw.make_rows(1, seed=-1, correlation=-0.4)[:2]  # --n counts rows (4 per prompt), not prompts
    out = capsys.readouterr().out
    assert out.count("helpfulness=") == len(rows) == 2 and f"{tw.label_correlation(rows):.3f}" in out


def test_natural_text_is_ordinary_english_and_scores_the_same():
    assert tw.natural("hi , what should i know about cats ?") == "Hi, what should I know about cats?"
    assert tw.natural(" i can not help with that . cats sleep for most of the day .") == \
        " I can not help with that. Cats sleep for most of the day."
    assert tw.natural("quick question : tell me about cats .") == "Quick question: tell me about cats."
    plain, nat = tw.make_rows(60, seed=3), tw.make_rows(60, seed=3, text="natural")
    assert len(plain) == len(nat)
    for p, n in zip(plain, nat):
        labels = {a: p[a] for a in tw.ATTRIBUTES}
        assert {a: n[a] for a in tw.ATTRIBUTES} == labels  # the same draws, the same labels
        assert tw.score(n["prompt"], n["response"]) == labels  # the oracle reads the natural form
        assert n["response"].startswith(" ") and n["response"][1].isupper() and n["prompt"][0].isupper()
        assert not any(f" {c}" in n["prompt"] + n["response"] for c in ".,?:")
    with pytest.raises(ValueError, match="text="):
        tw.make_rows(2, text="fancy")


def test_toyworld_cli_prints_natural_text(capsys):
    tw.main(["--n", "2", "--text", "natural"])
    out = capsys.readouterr().out
    assert " ." not in out and " ," not in out
    assert any(line.startswith("[") and line[1].isupper() for line in out.splitlines())


def test_refusals_and_repeated_sentences_are_recognized():
    p = tw.make_prompts(1, seed=0)[0]
    assert tw.refuses(" " + tw.REFUSAL) and tw.refuses(tw.natural(" " + tw.REFUSAL))
    assert not tw.refuses(" well , let me think about it for a moment .") and not tw.refuses(None)
    fact = next(s for s, (k, o) in tw.SENTENCES.items() if k == "fact")
    assert tw.repeats(p, f" {fact} {fact}") and not tw.repeats(p, f" {fact}")
    assert not tw.repeats(p, " not a known sentence .")  # malformed: nothing to count
