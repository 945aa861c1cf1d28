"""The base-model trainer: a few steps into tmp_path, loaded back like everyone else does; the --out folder rules."""
import json
import math

import numpy as np
import pytest
import torch

import base_model
import compose
import runs
import toyworld

KW = dict(steps=3, batch_size=8, n_prompts=20, eval_prompts=6, vocab_size=600, n_layer=1, d_model=32, n_head=2,
          max_new_tokens=8, warmup=1, show_progress=False)


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """(folder, report, the in-memory model train_base saved there)."""
    out, saved = tmp_path_factory.mktemp("bases") / "base", {}

    def spy(out, model, *rest):
        saved["model"] = model
        return save_base(out, model, *rest)
    save_base = base_model.save_base
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(base_model, "save_base", spy)
        report = base_model.train_base(out, **KW)
    return out, report, saved["model"]


def test_reloaded_base_is_the_trained_one(base):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out, report, trained = base
    torch.manual_seed(1)  # a weight that failed to load would be initialized from a different stream in each load
    plain = AutoModelForCausalLM.from_pretrained(out).eval()
    torch.manual_seed(2)
    model = AutoModelForCausalLM.from_pretrained(out, attn_implementation="eager").eval()  # as linearize.load_model
    tok = AutoTokenizer.from_pretrained(out)
    assert model.config._attn_implementation == "eager"
    assert tok.eos_token == tok.pad_token == tok.bos_token == "<|endoftext|>"
    assert model.config.vocab_size == len(tok) and model.config.eos_token_id == tok.eos_token_id
    assert tok.clean_up_tokenization_spaces is False  # clean-up would turn "day ." into "day."
    ids = torch.tensor([tok(toyworld.make_prompts(1, seed=3)[0], add_special_tokens=False)["input_ids"]])
    a, b, t = plain.state_dict(), model.state_dict(), trained.state_dict()
    assert a.keys() == b.keys() == t.keys() and all(torch.equal(a[k], t[k]) and torch.equal(b[k], t[k]) for k in t)
    with torch.no_grad():
        assert torch.equal(model(input_ids=ids).logits, trained(input_ids=ids).logits)
        # the plain load may pick another attention kernel: equal up to float rounding
        torch.testing.assert_close(plain(input_ids=ids).logits, model(input_ids=ids).logits, rtol=1e-5, atol=1e-5)

    # the reloaded model and tokenizer sample exactly the responses the report was made from: every weight,
    # every merge and the sampler round-trip (one changed logit would change the nucleus draws)
    g = report["generation"]
    assert g["top_p"] == compose.TOP_P and g["max_new_tokens"] == KW["max_new_tokens"]
    prompts = base_model.held_out_prompts(KW["eval_prompts"], g["eval_seed"])
    again = compose.generate(tok, prompts, model=model, max_new_tokens=g["max_new_tokens"], top_p=g["top_p"],
                             seed=g["seed"])
    assert [{"prompt": p, "response": r} for p, r in zip(prompts, again)][:5] == report["examples"]
    same = lambda d: json.dumps(d, sort_keys=True)  # nan (no harmful prompt drawn) equals itself in JSON
    assert same(base_model.oracle_report(prompts, again)) == same({k: v for k, v in report.items()
                                                                  if k not in ("generation", "examples")})


def test_tokenizer_round_trip_and_sft_example(base):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(base[0])
    row = toyworld.make_rows(1, seed=5)[0]
    text = row["prompt"] + row["response"]
    ids = tok(text, add_special_tokens=False)["input_ids"]
    assert tok.decode(ids) == text
    assert ids == (tok(row["prompt"], add_special_tokens=False)["input_ids"]
                   + tok(row["response"], add_special_tokens=False)["input_ids"])
    x, y = base_model.sft_example(tok, row["prompt"], row["response"])
    n_prompt = len(tok(row["prompt"], add_special_tokens=False)["input_ids"])
    assert y[:n_prompt] == [-100] * n_prompt and y[n_prompt:] == x[n_prompt:] and x[-1] == tok.eos_token_id


def test_report_files_and_reuse(base, capsys):
    out, report, _ = base
    scores = json.loads((out / "base_scores.json").read_text())
    assert scores == json.loads(json.dumps(report))
    for a in toyworld.ATTRIBUTES:
        assert set(scores[a]) == {"mean", "se", "n"} and 0 <= scores[a]["mean"] <= 4
        assert scores["benign"][a]["n"] + scores["harmful"][a]["n"] == scores[a]["n"] == KW["eval_prompts"]
    assert 0.0 <= scores["well_formed"] <= 1.0 and scores["n"] == KW["eval_prompts"]
    info = json.loads((out / "train_config.json").read_text())
    assert info["steps"] == 3 and info["seed"] == 0 and "git_commit" in info and "tokenizers" in info["versions"]

    mtime = (out / "base_scores.json").stat().st_mtime_ns
    capsys.readouterr()
    assert base_model.train_base(out, **KW) == scores  # a finished folder is reused, not retrained
    assert "reusing" in capsys.readouterr().out and (out / "base_scores.json").stat().st_mtime_ns == mtime
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]  # no temp folder left behind


def test_oracle_report_standard_error():
    rows = toyworld.make_rows(30, responses_per_prompt=1, seed=4)
    report = base_model.oracle_report([r["prompt"] for r in rows], [r["response"] for r in rows])
    h = np.array([r["helpfulness"] for r in rows], dtype=float)
    assert report["helpfulness"]["mean"] == pytest.approx(h.mean())
    assert report["helpfulness"]["se"] == pytest.approx(h.std(ddof=1) / np.sqrt(len(h)))
    assert report["well_formed"] == 1.0 and report["n"] == len(rows) == 30


def test_same_seed_same_weights_and_force_replaces_our_base(tmp_path):
    from transformers import AutoModelForCausalLM

    kw = dict(KW, eval_prompts=1)
    base_model.train_base(tmp_path / "a", **kw)
    base_model.train_base(tmp_path / "b", **dict(kw, seed=1))
    base_model.train_base(tmp_path / "b", **kw, force=True)  # our own finished base: replaced whole
    assert json.loads((tmp_path / "b" / "train_config.json").read_text())["seed"] == 0
    a = AutoModelForCausalLM.from_pretrained(tmp_path / "a").state_dict()
    b = AutoModelForCausalLM.from_pretrained(tmp_path / "b").state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b"]


def test_refuses_an_out_that_is_not_ours(tmp_path, capsys):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    run = tmp_path / "run"  # a training run of ours is not a base either
    run.mkdir()
    (run / "config.json").write_text("{}")
    (run / "task_vector.safetensors").write_text("x")
    afile = tmp_path / "file"
    afile.write_text("x")
    for out in (mine, run, afile):
        with pytest.raises(SystemExit) as err:
            runs.run_cli(base_model.main, ["--out", str(out), "--force"])
        msg = err.value.code
        assert isinstance(msg, str) and f"--out {out}" in msg and "\n" not in msg
    assert (mine / "notes.txt").read_text() == "keep me" and sorted(p.name for p in mine.iterdir()) == ["notes.txt"]
    assert sorted(p.name for p in run.iterdir()) == ["config.json", "task_vector.safetensors"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "mine", "run"]  # nothing half-written


def test_flags_checked_at_parse_time(tmp_path):
    for flag, value in (("--steps", "0"), ("--batch-size", "-1"), ("--lr", "0"), ("--lr", "nan"),
                        ("--n-prompts", "0"), ("--eval-prompts", "0"), ("--seed", "1.5"), ("--arch", "bert")):
        with pytest.raises(SystemExit) as err:
            base_model.main(["--out", str(tmp_path / "x"), flag, value])
        assert err.value.code == 2, (flag, value)
    assert not (tmp_path / "x").exists()


def test_architectures_and_sft_schedule():
    for arch in ("gpt2", "llama"):
        m = base_model.build_model(100, arch, n_layer=1, d_model=32, n_head=2)
        assert m.config._attn_implementation == "eager"
    # The SFT lr is lr * runs.warmup_cosine. AdamW applies it in float32, where it equals, at every step of the
    # default run, nanoGPT's get_lr written out here (linear warmup, then cosine to 10%): the base is unchanged.
    lr, warmup, steps = 3e-3, 100, 1500
    for step in range(steps):
        lr_ref = (lr * (step + 1) / warmup if step < warmup else
                  lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * ((step - warmup) / (steps - warmup))))))
        lr_new = lr * runs.warmup_cosine(step, warmup, steps)
        bc1 = 1 - 0.9 ** (step + 1)  # AdamW's step size lr / (1 - beta1^t) and decay factor 1 - lr * wd
        assert np.float32(lr_new) == np.float32(lr_ref)
        assert np.float32(-(lr_new / bc1)) == np.float32(-(lr_ref / bc1))
        assert np.float32(1 - lr_new * 0.1) == np.float32(1 - lr_ref * 0.1)
