"""play.py, the mixer: on a tiny base and tiny fake runs, alpha = 0 is the base, the two methods take their own
paths (the linearized model vs the edited weights), the KL is pair_sweep's, bad inputs are one clear message, and
the page builds and answers through gradio's own client."""
import json
import math
import re
import socket

import pytest
import torch

import play
import toyworld
from conftest import tiny_base
from generate import TOP_P, generate
from linearize import TaskVector, apply_vectors, fingerprint, linearize_for
from plumbing import cli

TS, DPO = "TS-DPO (linearized)", "DPO task arithmetic (nonlinear)"
PROMPT, N = "tell me about cats .", 6  # N: new tokens per answer (a jvp per token and vector: keep it short)
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore:.*deprecated:FutureWarning")


def fake_run(folder, mode, objective, tau, base, fp, seed=0):
    """A finished run as train_tangent.py leaves it: config.json + task_vector.safetensors."""
    folder.mkdir(parents=True)
    cfg = {"mode": mode, "objective": objective, "weights": None, "seed": seed, "finished": True, "base": str(base),
           "base_fingerprint": fp, "data": "toy", "data_seed": 0, "correlation": None, "max_length": 96}
    (folder / "config.json").write_text(json.dumps(cfg))
    tau.save(str(folder / "task_vector.safetensors"), {"base_fingerprint": fp, "mode": mode, "objective": objective})
    return folder


def random_tau(model, scale, seed):
    g = torch.Generator().manual_seed(seed)
    return TaskVector({n: scale * torch.randn(p.shape, generator=g) for n, p in model.named_parameters()})


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """runs/base + a tangent and a standard run per objective (+ a seed-1 run and a scalarized one, both unused)."""
    root = tmp_path_factory.mktemp("play") / "runs"
    model = tiny_base(root / "base")
    fp = fingerprint(play.load_model(str(root / "base")))
    for i, (mode, obj) in enumerate([(m, o) for m in ("tangent", "standard") for o in ("helpfulness", "verbosity")]):
        fake_run(root / f"{mode}-{obj}", mode, obj, random_tau(model, 0.5, i), root / "base", fp)
    fake_run(root / "seed1", "tangent", "verbosity", random_tau(model, 0.5, 9), root / "base", fp, seed=1)
    scal = fake_run(root / "scal", "standard", "verbosity", random_tau(model, 0.5, 8), root / "base", fp)
    cfg = json.loads((scal / "config.json").read_text())
    (scal / "config.json").write_text(json.dumps(cfg | {"objective": None, "weights": "helpfulness=1,verbosity=-1"}))
    return root


@pytest.fixture(scope="module")
def state(runs):
    return play.load_mixer(str(runs))


def test_loads_one_slider_per_objective_and_both_methods(state):
    assert state["objectives"] == ["helpfulness", "verbosity"]
    assert state["methods"] == [TS, DPO, play.BOTH]
    assert any("seed 0 is used" in n for n in state["notes"])  # the seed-1 run is left out, and the page says so
    assert state["sweep"] is None  # no results/ beside the runs: no Pareto plot


def test_alpha_zero_is_the_base(state):
    base = generate(state["tok"], [PROMPT], model=state["model"], greedy=True, max_new_tokens=N)[0]
    out = play.answer(state, PROMPT, [0.0, 0.0], play.BOTH, max_new_tokens=N)
    assert [r["response"] for r in out.values()] == [base, base]
    assert all(r["kl"] == 0.0 for r in out.values())
    r = out[TS]
    assert {k: r[k] for k in toyworld.ATTRIBUTES} == toyworld.score(PROMPT, base)
    assert r["words"] == len(base.split()) and r["well_formed"] == toyworld.is_well_formed(PROMPT, base)


def test_each_method_takes_its_own_path(state):
    tok, model, alphas = state["tok"], state["model"], [1.0, -0.5]
    ts, dpo = ([state["vectors"][m][o] for o in state["objectives"]] for m in ("tangent", "standard"))
    lin = linearize_for(model, ts)
    lin_ref = generate(tok, [PROMPT], lin=lin, taus=ts, alphas=alphas, greedy=True, max_new_tokens=N)[0]
    nonlin_ref = generate(tok, [PROMPT], model=apply_vectors(model, dpo, alphas), greedy=True, max_new_tokens=N)[0]
    out = play.answer(state, PROMPT, alphas, play.BOTH, max_new_tokens=N)
    assert out[TS]["response"] == lin_ref and out[DPO]["response"] == nonlin_ref
    assert lin_ref != nonlin_ref  # different vectors, different models: the two paths are told apart
    base = play.answer(state, PROMPT, [0.0, 0.0], TS, max_new_tokens=N)[TS]["response"]
    assert base not in (lin_ref, nonlin_ref)  # moving alpha changes the answer
    sampled = play.answer(state, PROMPT, alphas, DPO, greedy=False, seed=3, max_new_tokens=N)[DPO]["response"]
    assert sampled == generate(tok, [PROMPT], model=apply_vectors(model, dpo, alphas), greedy=False, seed=3,
                               top_p=TOP_P, max_new_tokens=N)[0]
    assert play.answer(state, PROMPT, [0.0, 1.0], TS, max_new_tokens=N)[TS]["response"] == generate(
        tok, [PROMPT], lin=lin, taus=ts[1:], alphas=[1.0], greedy=True, max_new_tokens=N)[0]  # only the moved vector


def test_kl_is_pair_sweeps(state):
    """The page's KL (a weighted sum of stored jvps; one forward of the moved weights) equals measure.sweeps'."""
    from measure.sweeps import pair_sweep
    alphas = [0.7, -1.2]
    for mode, kw in (("tangent", {"lin": state["lin"]}), ("standard", {"model": state["model"]})):
        taus = [state["vectors"][mode][o] for o in state["objectives"]]
        ref = pair_sweep(state["kl"]["pairs"], taus, [alphas], pad_id=state["tok"].pad_token_id, **kw)
        name = TS if mode == "tangent" else DPO
        got = play.answer(state, PROMPT, alphas, name, max_new_tokens=2)[name]
        assert got["kl"] == pytest.approx(float(ref["kl"][0]), rel=1e-4) and got["kl"] > 0
        assert got["kl_se"] == pytest.approx(float(ref["kl_se"][0]), rel=1e-3)


@pytest.mark.parametrize("prompt, alphas, method, steps, match", [
    ("   ", [0.0, 0.0], TS, 8, "prompt is empty"),
    (PROMPT, [2.5, 0.0], TS, 8, r"alpha for helpfulness = 2.5: out of range; use a number in \[-2, 2\]"),
    (PROMPT, [0.0, math.nan], TS, 8, "alpha for verbosity = nan"),
    (PROMPT, [0.0], TS, 8, "1 alphas for 2 objectives"),
    (PROMPT, [0.0, 0.0], "mystery", 8, "method 'mystery'"),
    (PROMPT, [0.0, 0.0], TS, 0, "max new tokens = 0"),
])
def test_bad_answers_are_one_message(state, prompt, alphas, method, steps, match):
    with pytest.raises(ValueError, match=match):
        play.answer(state, prompt, alphas, method, max_new_tokens=steps)
    text, second, fig = play.on_answer(state, prompt, method, True, 0, steps, *alphas)  # the page: no traceback
    assert text.startswith("**Cannot answer:**") and second == "" and fig is None


def test_bad_runs_folders_are_one_line(tmp_path, runs, capsys):
    for where in (tmp_path / "empty", tmp_path / "missing"):
        (tmp_path / "empty").mkdir(exist_ok=True)
        with pytest.raises(ValueError, match="make demo"):
            play.load_mixer(str(where))
    other = tmp_path / "mixed"
    model = tiny_base(other / "base2")
    fake_run(other / "r", "tangent", "verbosity", random_tau(model, 0.1, 0), other / "base2", "f00d")
    fake_run(other / "s", "tangent", "helpfulness", random_tau(model, 0.1, 0), runs / "base", "beef")
    with pytest.raises(ValueError, match=f"runs of 2 different bases; pass --base {re.escape(str(other / 'base2'))} "
                                         r"\(1 runs\) or --base"):
        play.load_mixer(str(other))
    with pytest.raises(ValueError, match="no finished run of one objective .* of --base nowhere"):
        play.load_mixer(str(other), base="nowhere")
    wrong = tmp_path / "wrong"  # config.json agrees, but the vector was trained on another base
    fake_run(wrong / "r", "tangent", "verbosity", random_tau(model, 0.1, 0), runs / "base", "f00d")
    with pytest.raises(SystemExit, match=r"^\S+: error: \S+task_vector.safetensors: vector was trained on base f00d"
                       ) as e:
        cli.run_cli(play.main, ["--runs", str(wrong), "--port", str(free_port())])
    assert "\n" not in str(e.value)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_port_in_use_is_one_line_naming_the_flag(runs):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        with pytest.raises(SystemExit, match=rf"^\S+: error: --port {port}: cannot listen .*pass another --port$"):
            cli.run_cli(play.main, ["--runs", str(runs), "--port", str(port)])


def test_the_page_builds_and_answers_with_a_pareto_plot(state, tmp_path):
    """With a sweep.jsonl the handler returns a figure; the page answers through gradio's own client."""
    from gradio_client import Client
    rows = [{"method": m, "seed": None, "alphas": {"helpfulness": h, "verbosity": v}, "sweeps": ["grid"],
             "scores": {"helpfulness": {"mean": 1 + h}, "verbosity": {"mean": 2 + v}}}
            for m in ("TS-DPO", "DPO task arithmetic") for h in (0.0, 1.0) for v in (-1.0, 0.0)]
    rows.append({"method": "base", "seed": None, "alphas": {"helpfulness": 0.0, "verbosity": 0.0}, "sweeps": ["base"],
                 "scores": {"helpfulness": {"mean": 1.0}, "verbosity": {"mean": 2.0}}})
    (tmp_path / "sweep.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    state = dict(state)  # the module's mixer, with the sweep load_mixer reads from --results
    state["sweep"], state["axes"] = play.read_sweep(tmp_path / "sweep.jsonl", state["notes"])
    assert state["axes"] == ("helpfulness", "verbosity") and len(state["sweep"]) == 9
    first, second, fig = play.on_answer(state, PROMPT, play.BOTH, True, 0, 8, 1.0, -1.0)  # side by side
    assert first.startswith(f"#### {TS}") and second.startswith(f"#### {DPO}") and "| words |" in first
    assert fig is not None and len(fig.axes[0].lines) > 9  # points, fronts, the ringed alphas, the answers
    app = play.build_app(state)
    port = free_port()
    app.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, ssr_mode=False)
    try:
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        text, second, _ = client.predict(PROMPT, TS, True, 0, 8, 0.0, 0.0, api_name="/answer")
        base = generate(state["tok"], [PROMPT], model=state["model"], greedy=True, max_new_tokens=8)[0]
        assert f"> {' '.join(base.split()) or '(an empty answer)'}" in text.replace("\\", "")
        assert not (second.get("visible") if isinstance(second, dict) else second)  # one method: no second column
        bad, _, _ = client.predict("", TS, True, 0, 8, 0.0, 0.0, api_name="/answer")
        assert bad.startswith("**Cannot answer:** the prompt is empty")
    finally:
        app.close()


def test_moved_runs_examples_and_the_bench(state, tmp_path):
    """config.json's relative base is found beside a moved runs folder; the natural text form gets natural examples
    (three benign, the last harmful); bench_latency times every method."""
    (tmp_path / "runs" / "base").mkdir(parents=True)
    assert play.resolve_base("runs/base", str(tmp_path / "runs")) == str(tmp_path / "runs" / "base")
    assert play.resolve_base("smollm2", str(tmp_path / "runs")) == "smollm2"
    plain, natural = play.example_prompts("toy"), play.example_prompts("toy:natural")
    assert [toyworld.prompt_kind(p) for p in plain] == ["benign"] * 3 + ["harmful"]
    assert natural[0] == "Tell me about cats."
    assert [toyworld.prompt_kind(p) for p in natural] == ["benign"] * 3 + ["harmful"]
    times = play.bench_latency(state, n=1, max_new_tokens=2)
    assert list(times) == ["base", TS, DPO] and all(s > 0 for s, _ in times.values())
