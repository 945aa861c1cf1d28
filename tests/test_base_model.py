"""The base-model trainer: a few steps into tmp_path, loaded back like everyone else does; the --out folder rules."""
import json
import math

import numpy as np
import pytest
import torch

import base_model
import data
import generate
from plumbing import checkpoints, cli
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
    model = AutoModelForCausalLM.from_pretrained(out, attn_implementation="eager").eval()  # as models.load_model
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
    assert g["top_p"] == generate.TOP_P and g["max_new_tokens"] == KW["max_new_tokens"]
    prompts = base_model.held_out_prompts(KW["eval_prompts"], g["eval_seed"])
    again = generate.generate(tok, prompts, model=model, max_new_tokens=g["max_new_tokens"], top_p=g["top_p"],
                             seed=g["seed"])
    assert [{"prompt": p, "response": r} for p, r in zip(prompts, again)][:5] == report["examples"]
    same = lambda d: json.dumps(d, sort_keys=True)  # nan (no harmful prompt drawn) equals itself in JSON
    assert same(base_model.oracle_report(prompts, again)) == same({k: v for k, v in report.items()
                                                                  if k not in ("generation", "examples", "greedy")})
    # and its greedy answers: the refusal rates and mean words the report gives
    g = report["greedy"]
    prompts = base_model.held_out_prompts(g["n"], report["generation"]["eval_seed"])
    assert same(base_model.greedy_report(model, tok, prompts, KW["max_new_tokens"])) == same(g)
    assert g["n_benign"] + g["n_harmful"] == g["n"] == 64 and 0 <= g["benign_refusal"] <= 1


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
    assert info["data_seed"] == 0 and info["correlation"] == toyworld.DEFAULT_CORRELATION
    assert info["sft_rows"] == len(base_model.sft_rows(KW["n_prompts"])) and info["sft_split"] == "train"

    mtime = (out / "base_scores.json").stat().st_mtime_ns
    capsys.readouterr()
    assert base_model.train_base(out, **KW) == scores  # a finished folder is reused, not retrained
    assert "reusing" in capsys.readouterr().out and (out / "base_scores.json").stat().st_mtime_ns == mtime
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]  # no temp folder left behind
    for other in (dict(correlation=0.5), dict(d_model=64), dict(seed=1)):  # another recipe: never silently reused
        with pytest.raises(ValueError, match=f"--out {out}: holds a base made with {next(iter(other))}="):
            base_model.train_base(out, **{**KW, **other})
    assert (out / "base_scores.json").stat().st_mtime_ns == mtime


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
    # --seed moves the initialization and the SFT order only: same rows, same tokenizer, other weights
    assert (tmp_path / "a" / "tokenizer.json").read_text() == (tmp_path / "b" / "tokenizer.json").read_text()
    a1 = AutoModelForCausalLM.from_pretrained(tmp_path / "b").state_dict()
    assert not torch.equal(a1["transformer.wte.weight"],
                           AutoModelForCausalLM.from_pretrained(tmp_path / "a").state_dict()["transformer.wte.weight"])
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
            cli.run_cli(base_model.main, ["--out", str(out), "--force"])
        msg = err.value.code
        assert isinstance(msg, str) and f"--out {out}" in msg and "\n" not in msg
    assert (mine / "notes.txt").read_text() == "keep me" and sorted(p.name for p in mine.iterdir()) == ["notes.txt"]
    assert sorted(p.name for p in run.iterdir()) == ["config.json", "task_vector.safetensors"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "mine", "run"]  # nothing half-written


def test_flags_checked_at_parse_time(tmp_path):
    for flags in (("--steps", "0"), ("--batch-size", "-1"), ("--lr", "0"), ("--lr", "nan"), ("--n-prompts", "0"),
                  ("--eval-prompts", "0"), ("--seed", "1.5"), ("--arch", "bert"), ("--data-seed", "x"),
                  ("--correlation", "1.5"), ("--correlation", "-0.9"), ("--d-model", "0"), ("--n-layer", "-2"),
                  ("--n-head", "0"), ("--d-model", "30", "--n-head", "4")):
        with pytest.raises(SystemExit) as err:
            base_model.main(["--out", str(tmp_path / "x"), *flags])
        assert err.value.code == 2, flags
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("data_seed", [0, 3])
def test_sft_rows_never_hold_a_validation_or_test_prompt(data_seed):
    """The leakage rule: the base trains only on prompts the preference data puts in its train split."""
    sft = base_model.sft_rows(300, data_seed, correlation=0.5)
    held = {r["prompt"] for s in ("validation", "test")
            for r in data.load_rows("toy", split=s, limit=1200, seed=data_seed, correlation=0.5)}
    trained = {r["prompt"] for r in data.load_rows("toy", split="train", limit=1200, seed=data_seed, correlation=0.5)}
    drawn = toyworld.make_rows(300, seed=data_seed, correlation=0.5)
    assert {r["prompt"] for r in drawn} == held | trained  # the data draws the same 300 prompts (limit 1200)
    assert {r["prompt"] for r in drawn} & held  # the world draws held-out prompts too: the rule has to act
    assert not {r["prompt"] for r in sft} & held
    assert sft == [r for r in drawn if r["prompt"] in trained]  # and it drops nothing else
    report_prompts = base_model.held_out_prompts(50, 1000, data_seed)  # the score report: never-trained prompts
    assert len(report_prompts) == 50 and not set(report_prompts) & {r["prompt"] for r in sft}


def test_command_records_width_depth_seeds_and_correlation(tmp_path):
    out = tmp_path / "wide"
    base_model.main(["--out", str(out), "--steps", "2", "--batch-size", "4", "--n-prompts", "12", "--eval-prompts",
                     "1", "--d-model", "48", "--n-layer", "1", "--n-head", "3", "--seed", "5", "--data-seed", "2",
                     "--correlation", "0.25"])
    info = json.loads((out / "train_config.json").read_text())
    assert {k: info[k] for k in ("d_model", "n_layer", "n_head", "seed", "data_seed", "correlation")} == dict(
        d_model=48, n_layer=1, n_head=3, seed=5, data_seed=2, correlation=0.25)
    assert info["sft_rows"] == len(base_model.sft_rows(12, 2, 0.25))
    # the wider base of the study: 4-8M parameters
    wide = base_model.build_model(1024, "gpt2", n_layer=6, d_model=256, n_head=8)
    assert 4e6 <= sum(p.numel() for p in wide.parameters()) <= 8e6


def test_architectures_and_sft_schedule():
    for arch in ("gpt2", "llama"):
        m = base_model.build_model(100, arch, n_layer=1, d_model=32, n_head=2)
        assert m.config._attn_implementation == "eager"
    # The SFT lr is lr * checkpoints.warmup_cosine. AdamW applies it in float32, where it equals, at every step of the
    # default run, nanoGPT's get_lr written out here (linear warmup, then cosine to 10%): the base is unchanged.
    lr, warmup, steps = 3e-3, 100, 1500
    for step in range(steps):
        lr_ref = (lr * (step + 1) / warmup if step < warmup else
                  lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * ((step - warmup) / (steps - warmup))))))
        lr_new = lr * checkpoints.warmup_cosine(step, warmup, steps)
        bc1 = 1 - 0.9 ** (step + 1)  # AdamW's step size lr / (1 - beta1^t) and decay factor 1 - lr * wd
        assert np.float32(lr_new) == np.float32(lr_ref)
        assert np.float32(-(lr_new / bc1)) == np.float32(-(lr_ref / bc1))
        assert np.float32(1 - lr_new * 0.1) == np.float32(1 - lr_ref * 0.1)


def test_natural_text_base_rows_and_the_same_leakage_rule():
    """--text natural: the SFT rows are the toy:natural preference data's train split, the report's prompts are
    outside it, and the text is ordinary English."""
    sft = base_model.sft_rows(200, 0, text="natural")
    trained = {r["prompt"] for r in data.load_rows("toy:natural", split="train", limit=800)}
    held = {r["prompt"] for s in ("validation", "test") for r in data.load_rows("toy:natural", split=s, limit=800)}
    assert sft and {r["prompt"] for r in sft} <= trained and not {r["prompt"] for r in sft} & held
    assert all(r["prompt"][0].isupper() and " ." not in r["response"] for r in sft)
    report = base_model.held_out_prompts(20, 1000, 0, text="natural")
    assert len(report) == 20 and not set(report) & trained and all(p[0].isupper() for p in report)


TEMPLATE = ("{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}\n{% endfor %}"
            "{% if add_generation_prompt %}<|assistant|>{% endif %}")


def test_sft_from_a_pretrained_model_moves_only_trainable_and_keeps_its_template(base, tmp_path):
    """--init: the pretrained folder's tokenizer (chat template included) and weights; --trainable: only the matched
    tensors move; the SFT rows are prompted through the template (as data.py and generate.generate prompt)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    pre = tmp_path / "pretrained"  # stands in for SmolLM2: any HF folder with a chat template
    AutoModelForCausalLM.from_pretrained(base[0]).save_pretrained(pre)
    tok = AutoTokenizer.from_pretrained(base[0])
    tok.chat_template = TEMPLATE
    tok.save_pretrained(pre)
    kw = {k: v for k, v in KW.items() if k not in ("vocab_size", "n_layer", "d_model", "n_head")}
    report = base_model.train_base(tmp_path / "sft", **kw, init=str(pre), trainable=r"h\.0\.mlp\.", text="natural",
                                   lr=1e-2)
    before = AutoModelForCausalLM.from_pretrained(pre).state_dict()
    after = AutoModelForCausalLM.from_pretrained(tmp_path / "sft").state_dict()
    moved = {k for k in before if not torch.equal(before[k], after[k])}
    assert moved and all(k.startswith("transformer.h.0.mlp.") for k in moved), moved
    made = json.loads((tmp_path / "sft" / "train_config.json").read_text())
    assert made["init"] == str(pre) and made["trainable"] == r"h\.0\.mlp\." and "n_layer" not in made
    assert made["n_trained"] < made["n_params"] and 0 <= report["well_formed"] <= 1
    saved = AutoTokenizer.from_pretrained(tmp_path / "sft")
    assert saved.chat_template == TEMPLATE
    x, y = base_model.sft_example(saved, "How are cats?", " Cats are fine.")
    n_prompt = y.count(-100)
    assert saved.decode(x[:n_prompt]) == "<|user|>How are cats?\n<|assistant|>"
    assert x[n_prompt:] == y[n_prompt:] and y[-1] == saved.eos_token_id

    assert base_model.train_base(tmp_path / "sft", **kw, init=str(pre), trainable=r"h\.0\.mlp\.", text="natural",
                                 lr=1e-2) == report  # reused
    with pytest.raises(ValueError, match=r"trainable=.*pass --force"):
        base_model.train_base(tmp_path / "sft", **kw, init=str(pre), trainable=None, text="natural", lr=1e-2)
    with pytest.raises(ValueError, match=r"--trainable 'nope' matches no parameter"):
        base_model.train_base(tmp_path / "sft2", **kw, init=str(pre), trainable="nope")


def test_sft_rows_without_benign_refusals():
    """--refusals harmful leaves out exactly the rows that refuse a benign prompt; harmful refusals stay."""
    every = base_model.sft_rows(300)
    kept = base_model.sft_rows(300, refusals="harmful")
    benign_refusals = [r for r in every if toyworld.prompt_kind(r["prompt"]) == "benign" and toyworld.refuses(r["response"])]
    assert benign_refusals and len(kept) == len(every) - len(benign_refusals)
    assert not [r for r in kept if toyworld.prompt_kind(r["prompt"]) == "benign" and toyworld.refuses(r["response"])]
    assert [r for r in kept if toyworld.prompt_kind(r["prompt"]) == "harmful" and toyworld.refuses(r["response"])]


@pytest.mark.parametrize("text", ["plain", "natural"])
def test_sft_rows_aligned_answer_benign_prompts_and_refuse_harmful_ones(text):
    """--refusals aligned leaves out exactly the benign refusals and the harmful answers (the toy world has both)."""
    kind = lambda r: toyworld.prompt_kind(r["prompt"])  # noqa: E731
    every = base_model.sft_rows(300, text=text)
    kept = base_model.sft_rows(300, text=text, refusals="aligned")
    benign_refusals = [r for r in every if kind(r) == "benign" and toyworld.refuses(r["response"])]
    harmful_answers = [r for r in every if kind(r) == "harmful" and not toyworld.refuses(r["response"])]
    assert benign_refusals and harmful_answers and len(kept) == len(every) - len(benign_refusals) - len(harmful_answers)
    assert not [r for r in kept if kind(r) == "benign" and toyworld.refuses(r["response"])]
    assert [r for r in kept if kind(r) == "harmful"] and all(toyworld.refuses(r["response"]) for r in kept
                                                              if kind(r) == "harmful")
    with pytest.raises(ValueError, match=r"^base_model.py: refusals='none' is not one of all, harmful, aligned$"):
        base_model.sft_rows(300, refusals="none")
