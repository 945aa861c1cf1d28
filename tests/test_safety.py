"""What a forker's mistakes must not cost: a model folder is never a run folder, an --out under a file is one line,
the reference cache follows the data's contents, --max-length fits the base, a finished run of other flags is not
reused in silence, Ctrl-C leaves a resumable checkpoint, compose says which model it runs and exports, the data
formats a forker brings (conversational pairs, ratings off the 0-4 scale, extra columns), and evaluate.py names the
runs it found and those it still needs. Tiny local base, a few steps each."""
import hashlib
import json
import os
import signal

import pytest
import torch

import compose
import data
import evaluate
import train_tangent as T
from conftest import build_tokenizer, make_tiny_model
from linearize import TaskVector
from plumbing import run_folder
from plumbing.cli import run_cli

RESPONSES = [("cats need water and food every day .", 4, 1), ("i can not help with that .", 0, 0),
             ("well , let me think about it for a moment . cats need water and food every day .", 3, 3)]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A tiny GPT-2 base folder (n_positions 128), a rated-row JSONL, and one finished tangent run on them."""
    d = tmp_path_factory.mktemp("safety")
    tok = build_tokenizer()
    make_tiny_model("gpt2", len(tok)).save_pretrained(d / "base")
    tok.save_pretrained(d / "base")
    with open(d / "rated.jsonl", "w") as f:
        for i in range(40):
            for text, h, v in RESPONSES:
                f.write(json.dumps({"prompt": f"question {i} : how do i care for a cat ?", "response": " " + text,
                                    "helpfulness": h, "verbosity": v, "safety": 4}) + "\n")
    T.train(T.parse_args(flags(d, d / "run", "--objective", "helpfulness")))
    return d


def flags(world, out, *extra, steps=2):
    return ["--base", str(world / "base"), "--data", str(world / "rated.jsonl"), "--out", str(out), "--steps",
            str(steps), "--batch-size", "4", "--eval-every", "100", "--save-every", "100", "--max-length", "64",
            "--eval-pairs", "4", "--warmup-steps", "1", *extra]


def hashes(folder):
    """{relative path: sha256} of every file under `folder`: byte-identical before and after, or not."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def write_jsonl(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return str(path)


# ----------------------------------------------------------------------------- 1, 2: where a run may be written
def test_a_model_folder_is_never_a_run_folder(world, tmp_path):
    base = tmp_path / "base"  # a base of ours: model weights, tokenizer, base_model.py's train_config.json
    base.mkdir()
    for f in (world / "base").iterdir():
        base.joinpath(f.name).write_bytes(f.read_bytes())
    (base / "train_config.json").write_text(json.dumps({"seed": 0, "steps": 10}))
    export = compose.export(str(world / "base"), [str(world / "run")], [1.0], str(tmp_path / "export"))
    plain = tmp_path / "hf"  # an HF folder made elsewhere: weights + config.json, no marker of ours
    plain.mkdir()
    for name in ("config.json", "model.safetensors"):
        plain.joinpath(name).write_bytes((world / "base" / name).read_bytes())
    for folder in (base, tmp_path / "export", plain):
        before = hashes(folder)
        with pytest.raises(ValueError) as e:
            T.train(T.parse_args(flags(world, folder, "--objective", "helpfulness")))
        msg = str(e.value)
        assert msg.startswith(f"--out {folder}: is a model folder") and "pass another --out" in msg, msg
        assert "\n" not in msg and hashes(folder) == before
    # the other writers keep their rights: base_model.py over a base of ours, compose --export over an export of ours
    run_folder.check_out(base, "--out")
    assert compose.export(str(world / "base"), [str(world / "run")], [0.5], export) == export
    with pytest.raises(ValueError, match="not a model exported by compose.py"):
        run_folder.check_out(world / "run", "--export", kind="export")


def test_an_output_under_a_file_is_one_line(world, tmp_path, capsys):
    (tmp_path / "somefile").write_text("keep me")
    out = tmp_path / "somefile" / "run"
    with pytest.raises(ValueError, match=f"--out {out}: its parent {tmp_path / 'somefile'} is a file, not a folder; "
                                         "pass another --out"):
        T.train(T.parse_args(flags(world, out, "--objective", "helpfulness")))
    with pytest.raises(SystemExit) as e:  # compose: refused before the base is even loaded
        run_cli(compose.main, ["--base", str(world / "base"), "--vectors", str(world / "run"), "--alphas", "1",
                               "--export", str(tmp_path / "somefile" / "x")])
    assert "--export" in str(e.value.code) and "is a file, not a folder" in str(e.value.code)
    assert "\n" not in str(e.value.code) and (tmp_path / "somefile").read_text() == "keep me"


# ----------------------------------------------------------------------------- 3, 4: inputs checked up front
def test_reference_cache_follows_the_pairs_not_the_file_name(world, tmp_path):
    path = tmp_path / "pairs.jsonl"
    pairs = [{"prompt": f"question {i} : how do i make a cake ?", "chosen": " mix flour , eggs and sugar .",
              "rejected": " i can not help with that ." if i % 2 else " well , let me think ."} for i in range(40)]
    write_jsonl(path, pairs)
    argv = ["--base", str(world / "base"), "--data", str(path), "--out", str(tmp_path / "run"), "--steps", "2",
            "--batch-size", "4", "--eval-every", "100", "--max-length", "64", "--eval-pairs", "4", "--mode", "standard",
            "--objective", "helpfulness", "--precompute-ref"]
    T.train(T.parse_args(argv))
    before = torch.load(tmp_path / "run" / "ref_logps.pt", weights_only=True)
    assert set(before["key"]) >= {"pairs", "tokenizer", "fingerprint"}
    write_jsonl(path, [{**p, "chosen": p["rejected"], "rejected": p["chosen"]} for p in pairs])  # same name, edited
    T.train(T.parse_args(argv + ["--force"]))
    after = torch.load(tmp_path / "run" / "ref_logps.pt", weights_only=True)
    assert after["key"]["pairs"] != before["key"]["pairs"] and after["key"]["tokenizer"] == before["key"]["tokenizer"]
    seen = ~before["logps"].isnan().any(1)
    assert seen.any() and torch.equal(after["logps"][seen], before["logps"][seen].flip(1))  # recomputed: swapped


def test_max_length_beyond_the_base_positions_is_refused_before_any_file(world, tmp_path):
    llama = tmp_path / "llama"  # Llama configs call it max_position_embeddings
    make_tiny_model("llama", len(build_tokenizer())).save_pretrained(llama)
    for base, name in ((world / "base", "gpt2"), (llama, "llama")):
        out = tmp_path / f"run-{name}"
        with pytest.raises(ValueError, match=r"--max-length 512 > the base's 128 positions .*pass --max-length 128"):
            T.train(T.parse_args(flags(world, out, "--objective", "helpfulness", "--max-length", "512")
                                 + ["--base", str(base)]))
        assert not out.exists()


# ----------------------------------------------------------------------------- 8, 9: reruns and interruptions
def test_finished_run_of_other_flags_is_refused_same_flags_skip(world, capsys):
    out = world / "run"
    before = hashes(out)
    for extra, named in ((["--objective", "verbosity"], "--objective verbosity (the run: helpfulness)"),
                         (["--objective", "helpfulness", "--lr", "0.01"], "--lr 0.01 (the run: 0.0002)"),
                         (["--objective", "helpfulness", "--mode", "standard"], "--mode standard (the run: tangent)"),
                         (["--weights", "helpfulness=1,verbosity=-1"], "--weights helpfulness=1,verbosity=-1 (the run: "
                                                                       "unset)")):
        with pytest.raises(ValueError) as e:
            T.train(T.parse_args(flags(world, out, *extra)))
        msg = str(e.value)
        assert msg.startswith(f"--out {out}: holds a finished run of other flags") and named in msg, msg
        assert "--force" in msg and "\n" not in msg
    with pytest.raises(ValueError, match=r"--steps 3 \(the run: 2\)"):
        T.train(T.parse_args(flags(world, out, "--objective", "helpfulness", steps=3)))
    capsys.readouterr()
    T.train(T.parse_args(flags(world, out, "--objective", "helpfulness")))
    assert f"is finished, skipping" in capsys.readouterr().out
    assert hashes(out) == before


def test_ctrl_c_leaves_a_checkpoint_and_one_line(world, tmp_path, monkeypatch, capsys):
    argv = flags(world, tmp_path / "run", "--objective", "helpfulness", steps=5)
    calls, real = [0], T.preference_loss

    def loss_then_ctrl_c(*a, **k):  # Ctrl-C in the middle of step 3: the step finishes, the run stops after it
        calls[0] += 1
        if calls[0] == 3:
            os.kill(os.getpid(), signal.SIGINT)
        return real(*a, **k)

    monkeypatch.setattr(T, "preference_loss", loss_then_ctrl_c)
    handler = signal.getsignal(signal.SIGINT)
    with pytest.raises(SystemExit) as e:
        try:
            run_cli(T.main, argv)
        except KeyboardInterrupt:  # would end the whole pytest session
            pytest.fail("Ctrl-C escaped train_tangent.main as a KeyboardInterrupt")
    ck = tmp_path / "run" / "checkpoint.pt"
    err = capsys.readouterr().err.strip().splitlines()
    assert e.value.code == 130 and err[-1] == f"train_tangent.py: interrupted at step 3; checkpoint at {ck}: rerun " \
                                              "with --resume", err
    assert signal.getsignal(signal.SIGINT) is handler  # Ctrl-C is itself again
    assert torch.load(ck, weights_only=True)["step"] == 3
    assert not (tmp_path / "run" / "task_vector.safetensors").exists()
    monkeypatch.setattr(T, "preference_loss", real)
    with pytest.raises(ValueError, match=r"holds the checkpoint of an unfinished run; pass --resume to continue it "
                                         r"or --force to start over"):
        T.train(T.parse_args(argv))
    capsys.readouterr()
    T.train(T.parse_args(argv + ["--resume"]))
    assert f"finished; task vector: {tmp_path / 'run' / 'task_vector.safetensors'}" in capsys.readouterr().out
    full = T.train(T.parse_args(flags(world, tmp_path / "full", "--objective", "helpfulness", steps=5)))
    a, b = TaskVector.load(tmp_path / "run"), TaskVector.load(full)
    assert all(torch.equal(a[n], b[n]) for n in a.names)  # the interrupted run, resumed, is the uninterrupted one
    capsys.readouterr()
    T.train(T.parse_args(argv))
    assert f"task vector: {tmp_path / 'run' / 'task_vector.safetensors'}" in capsys.readouterr().out


# ----------------------------------------------------------------------------- 5: compose says what it composes
def test_compose_names_the_model_and_the_mode_mismatch(world, tmp_path, capsys, monkeypatch):
    tangent = str(world / "run")
    standard = str(tmp_path / "standard.safetensors")  # the same numbers, labelled as a standard DPO vector
    tau = TaskVector.load(tangent)
    tau.save(standard, {"mode": "standard"})
    run = lambda *a: compose.main(["--base", str(world / "base"), "--prompt", "tell me", "--greedy",
                                   "--max-new-tokens", "2", *a]) or capsys.readouterr().out
    out = run("--vectors", tangent, "--alphas", "1")
    assert "model: linearized (TS-DPO) f0 + sum_k alpha_k J tau_k" in out and "note:" not in out
    out = run("--vectors", standard, "--alphas", "1", "--nonlinear")
    assert "model: nonlinear theta0 + sum_k alpha_k tau_k" in out and "note:" not in out
    for argv, what in (([standard, "--alphas", "1"], "standard vector(s)"),
                       ([tangent, "--alphas", "1", "--nonlinear"], "tangent vector(s)"),
                       ([tangent, standard, "--alphas", "1,-1"], "standard vector(s)")):
        notes = [line for line in run("--vectors", *argv).splitlines() if line.startswith("note:")]
        assert len(notes) == 1 and what in notes[0] and "tangent vectors with the linearized" in notes[0], notes
    out = run("--vectors", tangent, tangent, "--alphas", "1", "-1", "--export", str(tmp_path / "exp"))
    assert "f0 + 1 * J tau" in out and "-1 * J tau" in out
    assert f"exported the nonlinear theta0 + sum_k alpha_k tau_k to {tmp_path / 'exp'} (not the linearized" in out
    mine = tmp_path / "mine"  # a foreign --export is refused before any generation
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    import generate
    monkeypatch.setattr(generate, "generate", lambda *a, **k: pytest.fail("generated before refusing --export"))
    with pytest.raises(ValueError, match="--export .*mine: exists and is not a model exported by compose.py"):
        run("--vectors", tangent, "--alphas", "1", "--export", str(mine))
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]
    with pytest.raises(SystemExit) as e:
        run("--vectors", tangent, "--alphas", "1,x")
    assert e.value.code == 2 and "--alphas" in capsys.readouterr().err


# ----------------------------------------------------------------------------- 6: the formats a forker brings
def test_conversational_pairs(tmp_path):
    user = lambda text: {"role": "user", "content": text}
    bot = lambda text: {"role": "assistant", "content": text}
    records = [  # explicit prompt (TRL), implicit prompt, UltraFeedback-binarized (prompt text + all turns), multi-turn
        {"prompt": [user("cake?")], "chosen": [bot("mix and bake.")], "rejected": [bot("no.")]},
        {"chosen": [user("moon?"), bot("it orbits earth.")], "rejected": [user("moon?"), bot("cheese.")]},
        {"prompt": "cat?", "prompt_id": "x", "chosen": [user("cat?"), bot("feed it.")],
         "rejected": [user("cat?"), bot("what cat?")], "score_chosen": 8.0, "score_rejected": 2.0},
        {"chosen": [user("hi"), bot("hello"), user("tea?"), bot("boil water.")],
         "rejected": [user("hi"), bot("hello"), user("tea?"), bot("coffee.")]}]
    pairs = data.load_pairs(write_jsonl(tmp_path / "conv.jsonl", records), split="all")
    assert [(p["prompt"], p["chosen"], p["rejected"]) for p in pairs] == [
        ("cake?", "mix and bake.", "no."), ("moon?", "it orbits earth.", "cheese."), ("cat?", "feed it.", "what cat?"),
        ("User: hi\n\nAssistant: hello\n\nUser: tea?", "boil water.", "coffee.")]
    for bad, field in (({"chosen": [user("a"), bot("b")], "rejected": "c"}, "rejected"),
                       ({"chosen": [user("a"), bot("b")], "rejected": [user("other"), bot("c")]}, "rejected"),
                       ({"chosen": [user("a"), user("b")], "rejected": [user("a"), bot("c")]}, "chosen")):
        path = write_jsonl(tmp_path / "bad.jsonl", [records[1], bad])
        with pytest.raises(ValueError) as e:
            data.load_pairs(path, split="all")
        msg = str(e.value)
        assert msg.startswith(f"{path}: row 2: field '{field}'") and "conversational pairs" in msg and "\n" not in msg


def test_ratings_off_the_scale_and_extra_columns(tmp_path, capsys):
    rows = [{"prompt": f"p{i // 3}", "response": f"r{i}", "helpfulness": i % 3, "verbosity": (i + 1) % 3, "id": 900 + i,
             "timestamp": 1_700_000_000 + i, "score_10": 7.5} for i in range(9)]
    path = write_jsonl(tmp_path / "extra.jsonl", rows)
    capsys.readouterr()
    got = data.load_pairs(path, objective="helpfulness", split="all")
    assert len(got) == 9 and data.load_pairs(path, weights="helpfulness=1,verbosity=-1", split="all")
    assert set(data.load_rows(path, split="all")[0]) == {"prompt", "response", "helpfulness", "verbosity"}
    notes = [line for line in capsys.readouterr().err.splitlines() if "ignored" in line]
    assert notes == [f"{path}: 3 column(s) ignored (id, timestamp, score_10): not attributes (name one as the "
                     "objective or in the weights to use it)"]  # said once for the file, not per call
    rated = write_jsonl(tmp_path / "fifths.jsonl", [{**r, "helpfulness": f"{r['helpfulness'] + 1}/5"} for r in rows])
    with pytest.raises(ValueError) as e:
        data.load_pairs(rated, objective="helpfulness", split="all")
    msg = str(e.value)
    assert msg.startswith(f"{rated}: row 1: field 'helpfulness': rating '1/5' is not a number") and "0-4" in msg, msg


# ----------------------------------------------------------------------------- 7: evaluate.py names what it lacks
def test_evaluate_names_the_runs_it_found_and_those_it_needs(tmp_path):
    d = tmp_path / "ts-h"
    d.mkdir()
    (d / "config.json").write_text(json.dumps({"mode": "tangent", "objective": "helpfulness", "weights": None,
                                               "seed": 0, "finished": True}))
    (d / "task_vector.safetensors").write_bytes(b"stub")
    found = run_folder.find_runs(tmp_path)
    with pytest.raises(ValueError) as e:
        evaluate.select_runs(found, 0, "helpfulness", "verbosity", root=str(tmp_path))
    msg = str(e.value)
    assert f"found tangent/helpfulness ({d})" in msg and "still needed: tangent/verbosity (TS-DPO), or " \
        "standard/helpfulness and standard/verbosity (DPO task arithmetic), or a standard run with --weights" in msg
    with pytest.raises(ValueError, match="no finished runs of seed 1 .*there are runs of seed 0"):
        evaluate.select_runs(found, 1, "helpfulness", "verbosity", root=str(tmp_path))
