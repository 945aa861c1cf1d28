"""bench.py on a tiny base with one round and tiny sizes: every ratio of issue 14 is printed (measured / goal) and
written to bench.json; TRL's part is skipped with one line when `trl` cannot be imported, and timed when it can.
The numbers themselves are not checked here (a loaded 2-core machine says nothing about them)."""
import importlib.util
import json
import sys

import pytest
import torch

from lab import bench
from conftest import build_tokenizer, make_tiny_model
from plumbing.cli import run_cli

TINY = ["--repeats", "1", "--warmup", "0", "--batch-size", "2", "--max-length", "32", "--prompts", "2",
        "--new-tokens", "2", "--threads", "1"]  # one thread: the suite may share its cores
TRL_RATIOS = {k for k in bench.RATIOS if "trl" in k}
TRL_METHODS = {"trl_ref_recomputed", "trl_ref_precomputed"}


@pytest.fixture(autouse=True)
def keep_threads():
    """bench.main sets torch's thread count for the process: give the rest of the suite its own back."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    d = tmp_path_factory.mktemp("bench") / "base"
    tok = build_tokenizer()
    model = make_tiny_model("gpt2", len(tok), n_layer=1, d=16)
    model.save_pretrained(d), tok.save_pretrained(d)
    return d


def run(base, out, capsys):
    bench.main(["--base", str(base), "--out", str(out), *TINY])
    assert bench.Trunk.MEMO > 0  # the bench turns the trunk memo off while it times, and back on for the rest
    return capsys.readouterr().out.splitlines(), json.load(open(out))


def ratio_line(lines, key):
    found = [line for line in lines if line.split()[:1] == [key]]
    assert len(found) == 1, (key, lines)
    return found[0]


def test_every_ratio_printed_and_written_trl_skipped_in_one_line(base, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "trl", None)  # `from trl import ...` raises ImportError, as without the package
    lines, result = run(base, tmp_path / "bench.json", capsys)
    assert set(result["ratios"]) == set(bench.RATIOS) and result["goal_set"] == "embedded"
    assert not TRL_METHODS & set(result["training"]) and "trl is not importable" in result["trl_skipped"]
    skip = [line for line in lines if "TRL skipped" in line]
    assert len(skip) == 1 and "pip install --no-deps trl" in skip[0]
    for key in bench.RATIOS:
        line, value = ratio_line(lines, key), result["ratios"][key]
        if key in TRL_RATIOS:
            assert value is None and "skipped" in line
        else:
            assert value > 0 and f"{value:.2f}x / " in line
        op_bound = bench.GOALS["embedded"].get(key)
        if op_bound:  # a goal is printed beside its ratio, with its verdict when measured
            assert f"{op_bound[0]} {op_bound[1]:g}x" in line
            assert value is None or ("met" in line) != ("MISSED" in line)
    assert set(bench.GOALS["embedded"]) == set(result["goals"]) == {
        "ts_vs_dpo_recomputed", "ts_vs_trl_recomputed", "sweep_speedup", "generation_speedup"}


@pytest.mark.skipif(importlib.util.find_spec("trl") is None,
                    reason=f"trl is optional and not installed here; {bench.TRL_INSTALL} to cover its step")
def test_trl_steps_are_timed_when_trl_is_importable(base, tmp_path, capsys):
    lines, result = run(base, tmp_path / "bench.json", capsys)
    assert TRL_METHODS <= set(result["training"]) and result["trl_skipped"] is None
    assert all(result["ratios"][k] > 0 for k in bench.RATIOS)
    assert not [line for line in lines if "skipped" in line]


def test_bad_flags_and_outputs_are_one_line(base, tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        run_cli(bench.main, ["--base", str(base), "--linearize", "zzz", "--out", str(tmp_path / "b.json"), *TINY])
    assert "--linearize 'zzz' matches no parameter" in str(e.value.code) and "\n" not in str(e.value.code)
    mine = tmp_path / "notes.json"
    mine.write_text('{"mine": 1}')
    with pytest.raises(SystemExit) as e:
        run_cli(bench.main, ["--base", str(base), "--out", str(mine), *TINY])
    assert "not a bench.json of ours" in str(e.value.code) and mine.read_text() == '{"mine": 1}'
    for argv in (["--out", str(tmp_path)], ["--goals", "gpt5"], ["--max-length", "1"], ["--repeats", "0"]):
        with pytest.raises(SystemExit) as e:
            bench.parse_args(argv)
        assert e.value.code == 2
