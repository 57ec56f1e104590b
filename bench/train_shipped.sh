#!/usr/bin/env bash
# Produces every shipped generator in cgan_lib/pretrained/ with the project's own train command, then
# scores it and writes its model card (`ship`). Run from the repository root; runs one after another so
# that each card's wall time is honest (THREADS=1 runs two scripts side by side on 2 cores).
set -euo pipefail
PY=${PY:-.venv/bin/python}
THREADS=${THREADS:-2}
train() { name=$1; shift; $PY -m cgan_lib train --recipe plain "$@" --seed 0 --threads "$THREADS" --out "runs/$name" && $PY -m cgan_lib ship --run "runs/$name" --name "$name"; }
case "${1:-all}" in
  mlp_saturating|all) train mlp_saturating --model mlp --loss saturating --epochs 20 ;;&
  mlp|all)            train mlp --model mlp --epochs 20 ;;&
  dcgan|all)          train dcgan --model dcgan --width 32 --ema 0.999 --epochs 10 ;;&
  dcgan_clusters|all) train dcgan_clusters --model dcgan --clusters 200 --width 32 --lr 1e-3 \
                        --ema 0.999 --epochs 20 --lr-decay 14 20 ;;&
  cmlp|all)           train cmlp --model cmlp --ema 0.999 --epochs 20 ;;&
  cdcgan|all)         train cdcgan --model cdcgan --width 48 --ema 0.999 --epochs 12 --lr-decay 8 12 ;;&
  cdcgan_clusters|all) train cdcgan_clusters --model cdcgan --clusters 10 --width 48 --ema 0.999 \
                        --epochs 18 --lr-decay 12 18 ;;
esac
