"""Composing task vectors: theta0 + sum_k alpha_k tau_k, in the linearized or the nonlinear model.

Each TS-DPO run gives one task vector tau_k (one objective). At inference a user picks any real alphas
(a negative alpha asks for the opposite preference, e.g. less verbose) and runs

    linearized (TS-DPO):  f_lin(x; theta0 + sum_k alpha_k tau_k) = f0(x) + sum_k alpha_k J tau_k(x)
    nonlinear:            f(x; theta0 + sum_k alpha_k tau_k)      (the weights are edited, then a forward)

The linearity trick: in the linearized model the logits are LINEAR in alpha. K jvps give f0 and every
g_k = J tau_k once (LinearizedModel.jvp_many); after that each alpha point costs one weighted sum (linearize.combine),
not a forward. generate.py decodes with it (rows = (prompt, alpha point), K jvps per step); measure/sweeps.py
sweeps held-out pairs with it. The export is the nonlinear model: f0 + J tau is not a set of weights, so a
TS-DPO model needs linearize.py at inference.

    python compose.py --base runs/base --vectors runs/ts-helpfulness runs/ts-verbosity --alphas 1.0 -0.5
    python compose.py ... --nonlinear --greedy --prompt "how do i care for a cat ?"
    python compose.py ... --export runs/composed     # an HF folder of the nonlinear theta0 + sum alpha tau

Each vector's metadata says the mode that trained it: the method pairs tangent vectors with the linearized model
and standard vectors with the nonlinear one; any other pairing (the evaluation's ablation) is composed, with a note.
"""
import argparse
import math
import os

from linearize import TaskVector, apply_vectors, fingerprint, linearize_for
from plumbing.cli import Parser, in_range, positive, run_cli
from plumbing.models import load_model, load_tokenizer
from plumbing.run_folder import atomic_folder, check_out, write_json

MODELS = {"linearized": "linearized (TS-DPO) f0 + sum_k alpha_k J tau_k",
          "nonlinear": "nonlinear theta0 + sum_k alpha_k tau_k"}
PAIRED = {"linearized": "tangent", "nonlinear": "standard"}  # the method's pairing: mode that trained a vector -> model


# ---------------------------------------------------------------------------------------------- vectors
def load_vectors(paths, base):
    """Task vectors from run folders or .safetensors files; each one is refused if trained on another base."""
    return [TaskVector.load(p, base=base) for p in paths]


def mode_note(paths, vectors, model):
    """One note line when the vectors' training modes do not match `model` (or are a mix); None when they do."""
    modes = {p: v.metadata.get("mode") for p, v in zip(paths, vectors)}
    known = {m for m in modes.values() if m}  # a vector made elsewhere has no mode: nothing to say about it
    if not known or known == {PAIRED[model]}:
        return None
    what = "; ".join(f"{m} vector(s) {', '.join(p for p, pm in modes.items() if pm == m)}" for m in sorted(known))
    return (f"note: composing {what} in the {model} model; the method pairs tangent vectors with the linearized "
            f"model and standard vectors with the nonlinear one (--nonlinear)")


def alpha_list(text):
    """argparse type: '1' or a comma list '1,-0.5' -> [floats] (main flattens them: --alphas 1 -1 = --alphas 1,-1)."""
    try:
        return [float(x) for x in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give numbers, e.g. --alphas 1 -0.5 or --alphas -1,0.5") from None


# ------------------------------------------------------------------------------------------------ export
def export(base_path, vector_paths, alphas, out_dir):
    """Write the NONLINEAR model theta0 + sum_k alpha_k tau_k (+ tokenizer) as an HF folder, atomically.

    An existing out_dir is replaced only if it is an export of ours (it has compose.json)."""
    if len(vector_paths) != len(alphas):
        raise ValueError(f"{len(vector_paths)} vectors but {len(alphas)} alphas; give one alpha per vector")
    out_dir = os.path.abspath(out_dir)
    check_out(out_dir, "--export", kind="export")
    model, tokenizer = load_model(base_path), load_tokenizer(base_path)
    vectors = load_vectors(vector_paths, model)
    composed = apply_vectors(model, vectors, [float(x) for x in alphas])
    composed.config.use_cache = True  # an exported model is for ordinary generation

    def write(tmp):
        composed.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        write_json(os.path.join(tmp, "compose.json"),
                   {"base": str(base_path), "base_fingerprint": fingerprint(model), "alphas": [float(x) for x in alphas],
                    "vectors": [str(p) for p in vector_paths], "equation": "theta0 + sum_k alpha_k tau_k"})
    atomic_folder(out_dir, write, check=lambda: check_out(out_dir, "--export", kind="export"))
    return out_dir


# -------------------------------------------------------------------------------------------------- main
def main(argv=None):
    import toyworld  # the CLI's: composing and exporting need neither the sampler nor the toy prompts
    from generate import TOP_P, generate
    p = Parser(description=__doc__.split("\n\n")[0])
    p.add_argument("--base", default="runs/base", help="HF folder of theta0 (base_model.py)")
    p.add_argument("--vectors", nargs="+", default=["runs/ts-helpfulness", "runs/ts-verbosity"],
                   help="run folders or task_vector.safetensors files")
    p.add_argument("--alphas", nargs="+", type=alpha_list, default=[[1.0, -0.5]],
                   help="one alpha per vector (any real): 1 -0.5, or 1,-0.5, or -1,1")
    p.add_argument("--prompt", nargs="+", default=None, help="prompt(s); default: three toy-world prompts")
    p.add_argument("--nonlinear", action="store_true", help="edit the weights instead of the linearized model")
    p.add_argument("--greedy", action="store_true")
    p.add_argument("--temperature", type=positive(float), default=1.0, help="> 0 (use --greedy for argmax)")
    p.add_argument("--top-p", type=in_range(0, 1, lo_open=True), default=TOP_P, help="nucleus mass in (0, 1]; 1 = plain sampling")
    p.add_argument("--max-new-tokens", type=positive(), default=64)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--export", default=None, help="also write the composed nonlinear model as an HF folder here")
    args = p.parse_args(argv)
    args.alphas = [a for group in args.alphas for a in group]
    if len(args.vectors) != len(args.alphas):
        p.error(f"{len(args.vectors)} --vectors but {len(args.alphas)} --alphas; give one alpha per vector")
    bad = [a for a in args.alphas if not math.isfinite(a)]
    if bad:
        p.error(f"--alphas {bad[0]}: give finite numbers")
    if args.export:  # refused before any generation, not after it
        check_out(args.export, "--export", kind="export")
    model, tokenizer = load_model(args.base), load_tokenizer(args.base)
    vectors = load_vectors(args.vectors, model)
    kind = "nonlinear" if args.nonlinear else "linearized"
    note = mode_note(args.vectors, vectors, kind)
    if note:
        print(note)
    prompts = args.prompt if args.prompt is not None else toyworld.make_prompts(3, seed=0)
    kw = dict(max_new_tokens=args.max_new_tokens, temperature=args.temperature, top_p=args.top_p,
              greedy=args.greedy, seed=args.seed)
    if args.nonlinear:
        responses = generate(tokenizer, prompts, model=apply_vectors(model, vectors, args.alphas), **kw)
    else:
        responses = generate(tokenizer, prompts, lin=linearize_for(model, vectors), taus=vectors,
                             alphas=args.alphas, **kw)
    mix = " + ".join(f"{a:g} * {'' if args.nonlinear else 'J '}tau[{v}]" for a, v in zip(args.alphas, args.vectors))
    print(f"model: {MODELS[kind]}\n{'theta0' if args.nonlinear else 'f0'} + {mix}")
    for prompt, response in zip(prompts, responses):
        print(f"\n> {prompt}\n{response}")
    if args.export:  # weights are what an HF folder holds: the linearized model has none of its own
        out = export(args.base, args.vectors, args.alphas, args.export)
        print(f"\nexported the {MODELS['nonlinear']} to {out}"
              + ("" if args.nonlinear else " (not the linearized model printed above: an export holds weights)"))


if __name__ == "__main__":
    run_cli(main)
