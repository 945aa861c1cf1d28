#!/usr/bin/env bash
# The walkthrough end to end on the embedded default (CPU, nothing downloaded): `make demo` runs this.
# Every line is a step of the README's walkthrough; a finished run is reused unless FORCE=1. About 7 minutes on 2 cores, install included:
# only what the evaluation compares is trained (helpfulness and verbosity, both modes, 4 weightings); the
# evaluation runs at demo size (64 held-out prompts x 1 sample, 64 pairs per objective, no ablation) and its
# last step prints the flags of the study setting.
set -euo pipefail
cd "$(dirname "$0")"
PY=${PY:-.venv/bin/python}
FORCE_FLAG=$([ "${FORCE:-0}" = 1 ] && echo --force || true)
t0=$(date +%s)
step() { printf '\n== [%4ss] %s\n' "$(( $(date +%s) - t0 ))" "$*"; }

step "1. the base model theta0: tokenizer + tiny GPT-2, SFT on the toy world"
$PY base_model.py --out runs/base $FORCE_FLAG

for objective in helpfulness verbosity; do
  step "2. TS-DPO: DPO in the tangent space, one vector per objective ($objective)"
  $PY train_tangent.py --mode tangent --objective $objective --out runs/ts-$objective $FORCE_FLAG
  step "3. standard DPO, one run per objective ($objective): the task-arithmetic baseline"
  $PY train_tangent.py --mode standard --objective $objective --out runs/dpo-$objective $FORCE_FLAG
done

# w = 1 (helpfulness=1, verbosity=0) is plain DPO on helpfulness: evaluate.py reuses runs/dpo-helpfulness
for wv in 0:-1 0.25:-0.75 0.5:-0.5 0.75:-0.25; do
  w=${wv%%:*} v=${wv##*:}
  step "4. scalarized DPO: one standard run per fixed weighting (helpfulness=$w, verbosity=$v)"
  $PY train_tangent.py --mode standard --weights "helpfulness=$w,verbosity=$v" --out runs/scal-$w $FORCE_FLAG
done

step "5. compose: helpful but concise, no retraining"
$PY compose.py --base runs/base --vectors runs/ts-helpfulness runs/ts-verbosity --alphas 1.0 -1.0 \
  --prompt "$($PY -c 'import toyworld; print(toyworld.make_prompts(1, seed=123)[0])')" --max-new-tokens 80 --top-p 0.95

step "6. evaluate: paired comparisons with 95% CIs, KL per point, equal budgets, gaps, xi, CCA"
$PY evaluate.py --runs runs --out results --maximize helpfulness --minimize verbosity --no-ablation

step "done in $(( $(date +%s) - t0 )) s: results/summary.md, results/*.png; runs/*/curves.png"
echo "The study setting (slower): evaluate.py --out results-study --n-prompts 128 --n-samples 2 --n-boot 2000 --calibrate kl"
echo "A third objective: train_tangent.py --mode tangent --objective safety (and --mode standard) trains one more vector."
