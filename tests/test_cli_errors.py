"""Every script, fed the bad inputs users really type: one error line naming the flag, file or row, never a traceback.

Each case runs as `python script.py ARGS` (or `python -m lab.name ARGS`) does: runpy with __name__ == "__main__"
(conftest.run_as_script), in this process, where torch and transformers are imported already. For every case: a
non-zero exit (2 for usage errors), exactly one line "<script>: error: ..." that names what is wrong, no traceback,
and no finished-looking output (no `finished: true`, no task vector).
"""
import json
import os
from pathlib import Path

import pytest
from conftest import build_tokenizer, make_tiny_model, run_as_script


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A tiny base folder, bad files of several kinds, and a user's folder that must never be touched."""
    d = tmp_path_factory.mktemp("cli")
    tok = build_tokenizer()
    model = make_tiny_model("gpt2", len(tok))
    model.save_pretrained(d / "base")
    tok.save_pretrained(d / "base")
    (d / "base" / "train_config.json").write_text(json.dumps(  # base_model.py's record: trained on the plain form
        {"steps": 1, "batch_size": 2, "lr": 1e-3, "seed": 0, "data_seed": 0, "n_prompts": 10, "text": "plain"}))
    (d / "mine").mkdir()
    (d / "mine" / "notes.txt").write_text("keep me")
    pair = {"prompt": "how do i care for a cat ?", "chosen": "give it water .", "rejected": "give it water ."}
    (d / "same.jsonl").write_text("".join(json.dumps(pair) + "\n" for _ in range(20)))
    (d / "badrow.jsonl").write_text(json.dumps({"prompt": "hi", "chosen": "a", "rejected": "b"}) + "\n"
                                    + json.dumps({"prompt": "hi", "chosen": 5, "rejected": "b"}) + "\n")
    (d / "shape.jsonl").write_text(json.dumps({"prompt": "hi", "chosen": "a"}) + "\n")
    (d / "vec.json").write_text('{"not": "a tensor file"}')
    from safetensors.torch import save_file
    import torch
    save_file({"transformer.wte.weight": torch.zeros(300, 32)}, str(d / "full.safetensors"))
    blob = (d / "full.safetensors").read_bytes()
    (d / "half.safetensors").write_bytes(blob[:len(blob) // 2])
    run = d / "runs" / "broken"
    run.mkdir(parents=True)
    (run / "config.json").write_text('{"mode": "tangent", "objec')
    (run / "task_vector.safetensors").write_bytes(blob)
    return d


def cases(d):
    """(script, argv, exit code, text the error line must contain); {d} is the fixture folder."""
    base = ["--base", f"{d}/base"]
    train = ["--objective", "helpfulness", "--steps", "2", "--batch-size", "2", *base]
    return [
        ("train_tangent.py", [*train, "--linearize", "((", "--out", f"{d}/t1"], 2, "--linearize"),
        ("train_tangent.py", [*train, "--mode", "standard", "--linearize", "((", "--out", f"{d}/t2"], 2, "--linearize"),
        # --limit: a regex (or a base) is checked once the data is read; the whole toy world takes a second to build
        ("train_tangent.py", [*train, "--mode", "standard", "--limit", "100", "--linearize", "zzz", "--out",
                              f"{d}/t2z"], 1, "--linearize 'zzz' matches no parameter"),
        ("train_tangent.py", [*train, "--limit", "100", "--linearize", "nomatch", "--out", f"{d}/t3"], 1,
         "--linearize"),
        ("train_tangent.py", [*train[:-4], "--batch-size", "0", "--out", f"{d}/t4"], 2, "--batch-size"),
        ("train_tangent.py", [*train, "--grad-accum", "0", "--out", f"{d}/t5"], 2, "--grad-accum"),
        ("train_tangent.py", [*train, "--eval-every", "0", "--out", f"{d}/t6"], 2, "--eval-every"),
        ("train_tangent.py", [*train, "--max-length", "1", "--out", f"{d}/t7"], 2, "--max-length"),
        ("train_tangent.py", [*train, "--lr", "-1", "--out", f"{d}/t8"], 2, "--lr"),
        ("train_tangent.py", [*train, "--beta", "0", "--out", f"{d}/t9"], 2, "--beta"),
        ("train_tangent.py", [*train[:2], "--objective", "niceness", "--out", f"{d}/t10"], 2, "niceness"),
        ("train_tangent.py", [*train, "--data", f"{d}/same.jsonl", "--objective", "safety", "--out", f"{d}/t11"], 1,
         "same.jsonl"),
        ("train_tangent.py", [*train, "--data", f"{d}/nope.jsonl", "--out", f"{d}/t12"], 1, "nope.jsonl"),
        ("train_tangent.py", [*train, "--out", f"{d}/mine"], 1, "--out"),
        ("train_tangent.py", ["--objective", "helpfulness", "--base", f"{d}/nobase", "--limit", "100", "--out",
                              f"{d}/t13"], 1, "--base"),
        ("linearize.py", [*base, "--linearize", "(("], 1, "--linearize"),
        ("linearize.py", ["--base", f"{d}/nobase"], 1, "--base"),
        ("compose.py", [*base, "--vectors", f"{d}/half.safetensors", "--alphas", "1"], 1, "half.safetensors"),
        ("compose.py", [*base, "--vectors", f"{d}/vec.json", "--alphas", "1"], 1, "vec.json"),
        ("compose.py", [*base, "--vectors", f"{d}/full.safetensors", "--alphas", "1", "2"], 2, "--alphas"),
        ("compose.py", [*base, "--vectors", f"{d}/full.safetensors", "--alphas", "1", "--top-p", "0"], 2, "--top-p"),
        ("compose.py", [*base, "--vectors", f"{d}/full.safetensors", "--alphas", "1", "--max-new-tokens", "0"], 2,
         "--max-new-tokens"),
        ("evaluate.py", ["--runs", f"{d}/runs", *base, "--n-prompts", "0", "--out", f"{d}/e1"], 2, "--n-prompts"),
        ("evaluate.py", ["--runs", f"{d}/runs", *base, "--alphas-a", "x", "--out", f"{d}/e2"], 2, "--alphas-a"),
        ("evaluate.py", ["--runs", f"{d}/runs", *base, "--out", f"{d}/e3"], 1, "config.json"),
        ("evaluate.py", ["--runs", f"{d}/noruns", *base, "--out", f"{d}/e4"], 1, "noruns"),
        ("evaluate.py", ["--runs", f"{d}/runs", *base, "--out", f"{d}/mine"], 1, "--out"),
        ("evaluate.py", ["--runs", f"{d}/runs", "--base", f"{d}/nobase", "--out", f"{d}/e5"], 1, "--base"),
        ("lab/smollm2.py", ["--seeds", "1", "1", "--out", f"{d}/r1"], 2, "--seeds"),
        ("lab/smollm2.py", ["--steps", "0", "--out", f"{d}/r2"], 2, "--steps"),
        ("lab/smollm2.py", ["--out", f"{d}/mine"], 1, "--out"),
        ("lab/smollm2.py", ["--init", f"{d}/nobase", "--out", f"{d}/r3"], 1, "--init"),
        ("data.py", ["--data", f"{d}/badrow.jsonl", "--objective", "helpfulness"], 1, "row 2"),
        ("data.py", ["--data", f"{d}/shape.jsonl", "--objective", "helpfulness"], 1, "shape.jsonl"),
        ("data.py", ["--data", f"{d}/nope.jsonl", "--objective", "helpfulness"], 1, "nope.jsonl"),
        ("data.py", ["--data", "toy", "--objective", "helpfulness", "--limit", "0"], 2, "--limit"),
        ("data.py", ["--source", "toy:fancy", "--objective", "helpfulness"], 1, "toy:natural"),
        ("train_tangent.py", [*train, "--data", "toy:fancy", "--out", f"{d}/t13"], 2, "toy:natural"),
        ("toyworld.py", ["--text", "fancy"], 2, "--text"),
        ("base_model.py", ["--out", f"{d}/b1", "--steps", "0"], 2, "--steps"),
        ("base_model.py", ["--out", f"{d}/mine", "--steps", "1"], 1, "--out"),
        ("base_model.py", ["--out", f"{d}/b2", "--init", f"{d}/nobase"], 1, "--init"),
        ("lab/bench.py", ["--batch-size", "0"], 2, "--batch-size"),
        ("lab/bench.py", ["--max-length", "1"], 2, "--max-length"),
        ("toyworld.py", ["--n", "0"], 2, "--n"),
        # issue 25: negative comma lists are values, typos of known objectives, the base's text form, --scorer
        ("compose.py", [*base, "--vectors", f"{d}/full.safetensors", "--alphas", "-1,1"], 2, "2 --alphas"),
        ("evaluate.py", ["--runs", f"{d}/runs", *base, "--alphas-b", "-1,x", "--out", f"{d}/e6"], 2, "--alphas-b"),
        ("evaluate.py", ["--runs", f"{d}/runs", *base, "--scorer", "no_such_module:score", "--out", f"{d}/e7"], 2,
         "--scorer"),
        ("evaluate.py", ["--runs", f"{d}/runs", *base, "--data", "toy:natural", "--out", f"{d}/e8"], 1, "plain form"),
        ("data.py", ["--data", f"{d}/same.jsonl", "--objective", "helpfulnes"], 1, "did you mean helpfulness"),
        ("train_tangent.py", [*train, "--data", f"{d}/same.jsonl", "--objective", "helpfulnes", "--out", f"{d}/t14"], 1,
         "did you mean helpfulness"),
        ("train_tangent.py", [*train, "--data", "toy:natural", "--out", f"{d}/t15"], 1, "plain form"),
        ("dpo_loss.py", ["--beta", "1"], 2, "unrecognized arguments"),
    ]


@pytest.mark.slow
def test_bad_inputs_get_one_line_and_leave_nothing(world):
    table = [(s, [a.replace("{d}", str(world)) for a in argv], code, want) for s, argv, code, want in cases(world)]
    failures = []
    for script, argv, code, want in table:
        r = run_as_script(script, argv)
        prog = os.path.basename(script)
        errors = [x for x in r["stderr"].splitlines() if x.startswith(f"{prog}: error:")]
        problems = []
        if r["traceback"] or "Traceback" in r["stderr"]:
            problems.append(f"traceback: {(r['traceback'] or r['stderr'])[-600:]}")
        if r["code"] != code:
            problems.append(f"exit {r['code']} (want {code})")
        if len(errors) != 1 or want not in errors[0]:
            problems.append(f"want one '{prog}: error:' line naming {want!r}; stderr: {r['stderr'][-400:]!r}")
        if problems:
            failures.append(f"{script} {' '.join(argv[-4:])}: " + "; ".join(problems))
    assert not failures, "\n".join(failures)
    # nothing finished-looking anywhere, and the user's folder exactly as it was
    for cfg in Path(world).rglob("config.json"):
        if cfg.parent.name != "base":
            assert '"finished": true' not in cfg.read_text(), cfg
    assert not [p for p in Path(world).rglob("task_vector.safetensors") if p.parent.name != "broken"]
    assert [p.name for p in (Path(world) / "mine").iterdir()] == ["notes.txt"]
