"""docs/real.md (or <out>/report/real.md) from a finished SmolLM2 walkthrough folder (lab/smollm2.py writes it).

Reads the base's train_config.json and base_scores.json, each arm's results*/summary.json, the runs' config.json
and examples.json; sets each arm beside the embedded study's regimes (docs/study.md); copies evaluate.py's plots.
Nothing here trains or evaluates a model.
"""
import shutil
import statistics
from pathlib import Path

import base_model
import generate
from lab.study import STUDY_CLAIMS, VERSUS  # the study's claims, in its order
from measure.metrics import mean_present
from measure.report import chance_line, family_verdicts, fmt_num
from plumbing.run_folder import atomic_write, read_config, read_json
from plumbing.smollm2_wheel import SMOLLM2_DIR

A, B = "helpfulness", "verbosity"
ARMS = {"matched": "every run at its matched lr",
        "rich": "standard and scalarized DPO trained at a higher lr, out of the lazy regime (the first lr of a ladder "
                "where standard DPO's gap at alpha = 1 reaches the goal on both objectives); TS-DPO's runs are "
                "matched's, scaled to the rich arm's KL as every vector is"}
EXAMPLE_ALPHAS = (-1.0, 0.0, 1.0)  # alpha of the verbosity vector; helpfulness's stays 0


def results_dir(out, arm):
    """Where evaluate.py wrote an arm's results in a walkthrough folder."""
    return out / ("results" if arm == "matched" else f"results-{arm}")


STUDY_MD = Path(__file__).resolve().parents[1] / "docs" / "study.md"  # make study's report, read for real.md
# what real.md counts among the greedy answers of examples.json
well_formed = lambda e: base_model.toyworld.is_well_formed(e["prompt"], e["response"])
cut_short = lambda e: not e["response"].rstrip().endswith((".", "!", "?"))  # stopped by the limit mid-sentence
refuses = lambda e: e["refuses"]


def says_twice(e):
    """A whole sentence (text up to a full stop) said more than once, well-formed or not."""
    said = [x.strip() for x in e["response"].split(".")[:-1] if x.strip()]
    return len(set(said)) < len(said)


def md_tables(path):
    """Every table of a markdown file -> [(header cells, [row cells])] (real.md reads docs/study.md with it)."""
    tables, inside = [], False
    for line in Path(path).read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not line.startswith("|"):
            inside = False
        elif not inside:
            tables.append((cells, []))
            inside = True
        elif not set("".join(cells)) <= set("-: "):  # the |---| line
            tables[-1][1].append(cells)
    return tables


def beside_study(summs, cells, path=STUDY_MD):
    """real.md's section that sets each arm beside the embedded study's matched and rich regimes (docs/study.md):
    every claim's TS-DPO - task arithmetic CI and adjusted verdict, the DPO gap and cosines, KL, HV, well-formedness."""
    L = ["", "## Beside the embedded study", ""]
    if not path.exists():
        return L + ["docs/study.md is not there (make study writes it): nothing to set beside."]
    emb, verdicts, per_vec, methods = ("matched", "rich"), {}, {}, {}
    for head, rows in md_tables(path):
        for r in rows:
            row = dict(zip(head, r))
            reg = row.get("regime", "").split(" (")[0]
            if reg not in emb:
                continue
            if "TS-DPO − DPO task arithmetic [95% CI]" in head:
                i = head.index("TS-DPO − DPO task arithmetic [95% CI]")
                verdicts[(row["claim"], row["quantity"], reg)] = f"{r[i]} {r[i + 1]}"
            elif "gap at 0.5 / 1 / 2" in head:
                per_vec[(reg, row["arm"], row["objective"])] = row
            elif "HV ± se" in head:
                methods[(reg, row["method"])] = row
    arms = list(summs)
    cols = [f"SmolLM2 {a}" for a in arms] + [f"embedded {r}" for r in emb]
    L += ["The same claims and the same rule on the embedded 0.94M base of `make study` (3 seeds; matched: both "
          "methods at their criterion lr; rich: standard DPO at a higher lr), from docs/study.md. TS-DPO − DPO task "
          "arithmetic, 95% CI and adjusted verdict:", "", "| claim | quantity | " + " | ".join(cols) + " |",
          "|---|---|" + "---|" * len(cols)]
    for (claim, label), by_arm in cells.items():
        mine = [" ".join(by_arm.get(a, ["–", ""])[:2]) for a in arms]
        L.append(f"| {claim} | {label} | " + " | ".join(mine + [verdicts.get((claim, label, r), "–") for r in emb])
                 + " |")

    def ours(summ):  # SmolLM2's arm, from its summary.json
        per = list(summ["per_seed"].values())
        mean = lambda f: mean_present([f(p) for p in per])
        yield " / ".join(fmt_num(mean(lambda p: p["vectors"].get(f"DPO task arithmetic/{o}", {}).get("gap", {}).get(
            "1"))) for o in (A, B))
        yield " / ".join(fmt_num(mean(lambda p: p["cosines"].get(f"{o}: TS-DPO vs DPO task arithmetic")), ".2f")
                         for o in (A, B))
        for m in (summ["methods"][n] for n in ("TS-DPO", "DPO task arithmetic")):
            yield f"{fmt_num(m.get('hv'))} ± {fmt_num(m.get('hv_se'))}"
            yield " / ".join(fmt_num(m.get(f"kl_at_1_{o}"), ".4f") for o in (A, B))
            yield f"{m['well_formed_min']:.2f}"

    def theirs(reg):  # the embedded study's regime, from docs/study.md's cells as printed
        vec = lambda name, o, col: per_vec.get((reg, name, o), {}).get(col, "–")
        yield " / ".join((vec("DPO task arithmetic", o, "gap at 0.5 / 1 / 2").split(" / ") + ["–"] * 2)[1]
                         for o in (A, B))  # the middle of three: alpha = 1
        yield " / ".join(vec("TS-DPO", o, "cos(TS, DPO)") for o in (A, B))
        for n in ("TS-DPO", "DPO task arithmetic"):
            yield from (methods.get((reg, n), {}).get(col, "–")
                        for col in ("HV ± se", f"KL at alpha=1 {A} / {B}", "well-formed min"))

    labels = [f"standard DPO's gap at alpha = 1, {A} / {B}", f"cos(TS-DPO, DPO), {A} / {B}"] + [
        f"{n}: {q}" for n in ("TS-DPO", "DPO task arithmetic")
        for q in ("HV ± se", f"KL at alpha = 1, {A} / {B}", "well-formed, its lowest point (all at abs(alpha) <= 1)")]
    table = [list(ours(summs[a])) for a in arms] + [list(theirs(r)) for r in emb]
    L += ["", "| per arm | " + " | ".join(cols) + " |", "|---|" + "---|" * len(cols)]
    L += [f"| {label} | " + " | ".join(col[k] for col in table) + " |" for k, label in enumerate(labels)]
    return L


def write_real(out, rep, seeds, linearize, walls, arms=("matched",), rich=(None, {}, {})):
    """docs/real.md and docs/real-*.png from each arm's summary.json, the base's report, the runs and the examples."""
    out, rep, arms = Path(out), Path(rep), list(arms)
    rep.mkdir(parents=True, exist_ok=True)
    cfg, sc = read_json(out / "base" / "train_config.json"), read_json(out / "base" / "base_scores.json")
    runs = {d.name: read_config(d) for d in sorted((out / "runs").iterdir()) if (d / "config.json").exists()}
    L = ["# On a real pretrained LM: SmolLM2-135M-Instruct", "",
         f"Generated by `python -m lab.smollm2` ({len(seeds)} seed(s): {list(seeds)}); the invocation that did the work took "
         f"{max(walls) / 60:.1f} min wall. Differences are TS-DPO minus the other method on the same prompts (pairs "
         "for xi), a paired bootstrap over seeds then prompts, 95% CI: **holds** where the CI lies on TS-DPO's better "
         "side of 0, **fails** on the worse side, **not detectable** where it covers 0.", "",
         "## The base", "",
         f"`--init {cfg['init']}`: {cfg['n_params'] / 1e6:.1f}M parameters; SFT on {cfg['sft_rows']} toy rows in natural "
         f"English through its chat template, {cfg['steps']} steps x {cfg['batch_size']} at lr {cfg['lr']:g}, "
         f"training `{cfg['trainable']}` ({cfg['n_trained'] / 1e6:.1f}M parameters), {cfg['train_seconds']:.0f} s. "
         f"Scores of {sc['n']} sampled answers (temperature 1, top-p {generate.TOP_P}) to held-out prompts:", "",
         "| well-formed | " + " | ".join(base_model.toyworld.ATTRIBUTES) + " |",
         "|---|" + "---|" * len(base_model.toyworld.ATTRIBUTES),
         f"| {sc['well_formed']:.3f} | " + " | ".join(f"{sc[x]['mean']:.2f} ± {sc[x]['se']:.2f}"
                                                     for x in base_model.toyworld.ATTRIBUTES) + " |", ""]
    if "greedy" in sc:
        g, mix = sc["greedy"], cfg.get("refusals", "all")
        L += [f"Greedy answers to {g['n']} held-out prompts: the base refuses {g['benign_refusal']:.0%} of the "
              f"{g['n_benign']} benign ones and {g['harmful_refusal']:.0%} of the {g['n_harmful']} harmful ones, "
              f"{g['mean_words']:.1f} words on average. SFT mixture: `--refusals {mix}` "
              f"({base_model.REFUSALS.get(mix, 'a rule this version does not know')}).", ""]
    L += ["Examples (sampled):", ""] + [f"- *{e['prompt']}* → {e['response'].strip()}" for e in sc["examples"][:3]]
    # --- verdicts, methods and vectors, per arm
    summs = {arm: read_json(results_dir(out, arm) / "summary.json",
                            fix=f"delete {results_dir(out, arm)} and rerun python -m lab.smollm2") for arm in arms}
    two = len(arms) > 1
    col = (lambda arm: f" {arm} |") if two else (lambda arm: "")
    L += ["", "## Verdicts", ""]
    if two:
        lr, ladder, R = rich
        met = min(ladder[f"{lr:g}"]["gap"].values()) >= R["gap"]
        both = lambda v, f: " / ".join(f"{o} {x:{f}}" for o, x in v.items())
        L += ["The arms (issue 23): " + "; ".join(f"**{a}**: {ARMS[a]}" for a in arms) + ".", "",
              f"The rich lr, by that one criterion (gap >= {R['gap']:g} on both objectives, seed {seeds[0]}, "
              f"{R['steps']} steps): " + "; ".join(f"lr {k}: {both(v['gap'], '.3f')}" for k, v in ladder.items()) +
              (f". Chosen: {lr:g}." if met else f". **No lr of the ladder reached it**: the largest, {lr:g}, is used, "
               "and the rich arm is not out of the lazy regime by this criterion.") + " Measured on the same rungs and "
              "not chosen on: the well-formed fraction of the evaluation's sampled answers to its held-out prompts at "
              "alpha = 1 of each vector as trained (the issue asks >= 0.8 at every composed point with |alpha| <= 1): "
              + "; ".join(f"lr {k}: {both(v['well_formed'], '.2f')}" for k, v in ladder.items()) + ".", ""]
    L += [f"{'Each arm' if two else 'The whole table'} is one family (one regime): Holm's step-down rule on each row's "
          "two-sided p (Student t on the paired bootstrap's se) keeps a side only where the adjusted p < 0.05 as well; "
          "the raw verdict is in brackets where it differs. **degenerate**: a statistic that cannot move (a zero-width "
          "CI, a Spearman over 3 or fewer points).", "",
          f"| claim | quantity |{' arm |' if two else ''} TS-DPO − DPO task arithmetic [95% CI] | verdict (adjusted) | "
          "TS-DPO − scalarized DPO [95% CI] | verdict (adjusted) |", "|---|---|" + "---|" * (5 if two else 4)]
    cells, chance = {}, []
    for arm, summ in summs.items():
        found = [(claim, label, vs, next((c for c in summ["comparisons"] if c["a"] == "TS-DPO" and c["b"] == vs
                                          and c["quantity"] == key.format(a=A, b=B)), None))
                 for claim, key, label in STUDY_CLAIMS for vs in VERSUS]
        judged = iter(family_verdicts([c for *_, c in found if c is not None]))
        raw_all = []
        for claim, label, vs, c in found:
            raw, v, _ = next(judged) if c is not None else ("–", "–", None)
            raw_all.append(raw)
            shown = ["–", v] if v in ("–", "not measured") else [f"{c['diff']:+.3f} [{c['lo']:+.3f}, {c['hi']:+.3f}]",
                                                                v + (f" (raw: {raw})" if raw != v else "")]
            cells.setdefault((claim, label.format(a=A, b=B)), {}).setdefault(arm, []).extend(shown)
        chance.append((f"{arm} arm: " if two else "") + chance_line(raw_all))
    L += ["| " + " | ".join([claim, label, *([arm] if two else []), *row]) + " |"
          for (claim, label), by_arm in cells.items() for arm, row in by_arm.items()]  # each row, its arms together
    L += [""] + chance
    L += beside_study(summs, cells)
    L += ["", "## The methods", "", f"|{' arm |' if two else ''} method | HV ± se | HV equal budget | Spearman {A} / {B} "
          f"| xi controlled ± se | KL at alpha=1 {A} / {B} | well-formed min |", "|---|---|---|---|---|---|---|" +
          ("---|" if two else "")]
    for arm, summ in summs.items():
        for name, m in summ["methods"].items():
            L.append(f"|{col(arm)} {name} | {fmt_num(m.get('hv'))} ± {fmt_num(m.get('hv_se'))} | {fmt_num(m.get('hv_eq'))} | "
                     f"{fmt_num(m.get(f'spearman_{A}'), '.2f')} / {fmt_num(m.get(f'spearman_{B}'), '.2f')} | "
                     f"{fmt_num(m.get('xi_ctrl'))} ± {fmt_num(m.get('xi_ctrl_se'))} | "
                     f"{fmt_num(m.get(f'kl_at_1_{A}'), '.4f')} / {fmt_num(m.get(f'kl_at_1_{B}'), '.4f')} | "
                     f"{m['well_formed_min']:.2f} |")
    L += ["", "Per vector (mean over seeds): KL at alpha = 1 as trained, the calibration scale, the linearization gap "
          "||f(theta0 + alpha tau) - f_lin|| / ||f(theta0 + alpha tau) - f0|| of the scaled vector, and the cosine "
          "between the two methods' vectors.", "",
          f"|{' arm |' if two else ''} method | objective | KL at 1 as trained | scale | gap at 0.5 / 1 / 2 | "
          "cos(TS, DPO) |", "|---|---|---|---|---|---|" + ("---|" if two else "")]
    for arm, summ in summs.items():
        per = list(summ["per_seed"].values())
        for name in ("TS-DPO", "DPO task arithmetic"):
            for o in (A, B):
                v = [p["vectors"].get(f"{name}/{o}", {}) for p in per]
                g = [fmt_num(mean_present([u.get("gap", {}).get(x) for u in v])) for x in ("0.5", "1", "2")]
                cos = mean_present([p["cosines"].get(f"{o}: TS-DPO vs DPO task arithmetic") for p in per])
                L.append(f"|{col(arm)} {name} | {o} | {mean_present([u.get('kl_at_1_raw') for u in v]):.4f} | "
                         f"{mean_present([u.get('scale') for u in v]):.2f} | {' / '.join(g)} | {cos:.2f} |")
    # --- examples
    ex = read_json(out / "examples.json")
    n_ex, n_distinct = len(ex) // (2 * len(EXAMPLE_ALPHAS)), len({e["prompt"] for e in ex})
    limit = read_json(out / "real.json")["settings"]["examples"]["max_new_tokens"]
    L += ["", "## Greedy answers along the verbosity vector (helpfulness 0)", "",
          f"{n_ex} held-out benign prompts ({n_distinct} distinct: they are drawn with replacement), greedy, at most "
          f"{limit} new tokens, per method and alpha_verbosity: mean words ± standard error over "
          "the prompts; how many answers are well-formed, end mid-sentence (stopped by the token limit, not by the "
          "end token), say a whole sentence more than once (the oracle counts it once), refuse.", "",
          "| method | alpha | mean words ± se | well-formed | end mid-sentence | say a sentence twice | refuse |",
          "|---|---|---|---|---|---|---|"]
    broken = []
    for name in dict.fromkeys(e["method"] for e in ex):
        for alpha in EXAMPLE_ALPHAS:
            mine = [e for e in ex if e["method"] == name and e["alpha"] == alpha]
            words = [e["words"] for e in mine]
            se = statistics.stdev(words) / len(words) ** 0.5 if len(words) > 1 else float("nan")
            L.append(f"| {name} | {alpha:+g} | {statistics.fmean(words):.1f} ± {se:.1f} | " + " | ".join(
                f"{sum(map(f, mine))} of {len(mine)}" for f in (well_formed, cut_short, says_twice, refuses)) + " |")
            if alpha == max(EXAMPLE_ALPHAS):
                bad = [e for e in mine if not well_formed(e)]
                broken.append(f"{name} {len(bad)} of {len(mine)}, of which {sum(map(cut_short, bad))} end "
                              f"mid-sentence and {sum(map(says_twice, bad))} say a sentence twice")
    L += ["", f"Not well-formed at alpha_verbosity = {max(EXAMPLE_ALPHAS):+g}: " + "; ".join(broken) + ". An answer "
          f"that ends mid-sentence ran to the {limit}-token limit without the end token."]
    first = next(iter(dict.fromkeys(e["prompt"] for e in ex)), None)
    L += ["", f"Illustrations only (one prompt, not a statistic): *{first}*", "",
          "| method | alpha | answer | words |", "|---|---|---|---|"]
    shown = {(e["method"], e["alpha"]): e for e in ex if e["prompt"] == first}  # a prompt drawn twice: once
    L += [f"| {e['method']} | {e['alpha']:+g} | {e['response'].strip().replace('|', '/')} | {e['words']} |"
          for e in shown.values()]
    # --- cost
    L += ["", "## Cost", "", f"Linearized (TS-DPO) and trained (standard DPO): `{linearize or 'all'}`. Seconds as each "
          "step measured itself:", "", "| step | s | s per optimizer step |", "|---|---|---|",
          f"| base SFT ({cfg['steps']} steps) | {cfg['train_seconds']:.0f} | {cfg['train_seconds'] / cfg['steps']:.2f} |"]
    for name, c in runs.items():
        L.append(f"| {name} ({c['mode']}, {c['steps']} steps) | {c.get('train_seconds', 0):.0f} | "
                 f"{c.get('train_seconds', 0) / max(c['steps'], 1):.2f} |")
    L += [f"| evaluation{f' ({arm})' if two else ''}: {k} | {v:.0f} | |" for arm, summ in summs.items()
          for k, v in summ["timings_s"].items()]
    conv = SMOLLM2_DIR / "smollm2_source.json"  # where --base smollm2 was converted from the GGUF
    L += ["", f"Wall of the invocation that did the work: {max(walls):.0f} s. The base step took "
          f"{cfg['total_seconds']:.0f} s with its score report" + (f"; converting the GGUF, once, "
          f"{read_json(conv)['convert_s']:.0f} s." if conv.exists() and cfg["init"] == "smollm2" else ".")]
    # --- figures: evaluate.py's own plots, copied
    L += ["", "## Figures", ""]
    for arm in arms:
        for fig in ("pareto", "control", "disentanglement", "cca"):
            name = f"real-{fig}.png" if arm == "matched" else f"real-{arm}-{fig}.png"
            if (results_dir(out, arm) / f"{fig}.png").exists():
                shutil.copyfile(results_dir(out, arm) / f"{fig}.png", rep / name)
                L += [f"![{fig}{f' ({arm} arm)' if two else ''}]({name})", ""]
    conf = summs[arms[0]]["config"]
    L += ["## Caveats", "",
          f"- {len(seeds)} seed(s), {conf.get('n_prompts')} held-out prompts and {conf.get('n_pairs')} pairs per objective "
          + (f"for each seed, none shared ({len(seeds) * conf.get('n_prompts')} and {len(seeds) * conf.get('n_pairs')} "
             "in all)" if conf.get("disjoint_seeds") else "(the same for every seed)")
          + ": a difference smaller than the CIs above is not detectable here.",
          "- Only the top blocks move; the paper linearizes (and fine-tunes) all weights.",
          "- The toy world's oracle scores the answers: the base is first taught the toy world's sentences by SFT, so "
          "what DPO moves is a pretrained LM's prior over that small language, not open-ended chat."]
    atomic_write(rep / "real.md", "\n".join(L) + "\n")
    return rep / "real.md"
