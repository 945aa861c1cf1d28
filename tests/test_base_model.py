"""Smoke test of the base-model trainer: a few steps into tmp_path, then load it back like everyone else does."""
import json

import torch

import base_model
import toyworld

KW = dict(steps=3, batch_size=8, n_prompts=20, eval_prompts=6, vocab_size=600, n_layer=1, d_model=32, n_head=2,
          max_new_tokens=8, warmup=1, show_progress=False)


def test_train_save_load_and_reuse(tmp_path, capsys):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = tmp_path / "base"
    report = base_model.train_base(out, **KW)
    assert AutoModelForCausalLM.from_pretrained(out) is not None  # plain load works too
    model = AutoModelForCausalLM.from_pretrained(out, attn_implementation="eager")  # as linearize.load_model does
    tok = AutoTokenizer.from_pretrained(out)
    assert model.config._attn_implementation == "eager"
    assert tok.eos_token == tok.pad_token == tok.bos_token == "<|endoftext|>"
    assert model.config.vocab_size == len(tok) and model.config.eos_token_id == tok.eos_token_id

    # exact round trip, and separate tokenization of prompt and response equals the joint one
    row = toyworld.make_rows(1, seed=5)[0]
    text = row["prompt"] + row["response"]
    ids = tok(text, add_special_tokens=False)["input_ids"]
    assert tok.decode(ids) == text
    assert ids == (tok(row["prompt"], add_special_tokens=False)["input_ids"]
                   + tok(row["response"], add_special_tokens=False)["input_ids"])
    x, y = base_model.sft_example(tok, row["prompt"], row["response"])
    n_prompt = len(tok(row["prompt"], add_special_tokens=False)["input_ids"])
    assert y[:n_prompt] == [-100] * n_prompt and y[n_prompt:] == x[n_prompt:] and x[-1] == tok.eos_token_id

    scores = json.loads((out / "base_scores.json").read_text())
    assert scores == json.loads(json.dumps(report))
    for a in toyworld.ATTRIBUTES:
        assert set(scores[a]) == {"mean", "se", "n"} and 0 <= scores[a]["mean"] <= 4
        assert set(scores["harmful"][a]) == set(scores["benign"][a]) == {"mean", "se", "n"}
    assert 0.0 <= scores["well_formed"] <= 1.0 and scores["n"] == KW["eval_prompts"]
    info = json.loads((out / "train_config.json").read_text())
    assert info["steps"] == 3 and info["seed"] == 0

    # a finished folder is reused, not retrained
    mtime = (out / "base_scores.json").stat().st_mtime_ns
    capsys.readouterr()
    assert base_model.train_base(out, **KW) == scores
    assert "reusing" in capsys.readouterr().out and (out / "base_scores.json").stat().st_mtime_ns == mtime
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp folder left behind


def test_same_seed_same_weights(tmp_path):
    kw = dict(KW, eval_prompts=1)
    base_model.train_base(tmp_path / "a", **kw)
    base_model.train_base(tmp_path / "b", **kw)
    from transformers import AutoModelForCausalLM
    a = AutoModelForCausalLM.from_pretrained(tmp_path / "a").state_dict()
    b = AutoModelForCausalLM.from_pretrained(tmp_path / "b").state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_llama_and_lr_schedule():
    for arch in ("gpt2", "llama"):
        m = base_model.build_model(100, arch, n_layer=1, d_model=32, n_head=2)
        assert m.config._attn_implementation == "eager"
    lrs = [base_model.lr_at(s, 100, 1.0, 10) for s in range(100)]
    assert lrs[0] == 0.1 and lrs[9] == 1.0 and abs(lrs[-1] - 0.1) < 0.01
    assert all(a >= b for a, b in zip(lrs[9:], lrs[10:]))
