#!/usr/bin/env bash
# Train several variants of the shipped detector's recipe side by side, on one machine with
# many cores (and a GPU, if there is one), to choose what `make weights` should change.
#
#   bash benchmarks/ablation.sh OUT_DIR [SECONDS]
#
# Each variant changes one thing from the recipe of `make weights` (or, the last, combines
# the cheap ones); every variant makes about as many optimizer steps as the recipe, except
# "long", which measures what twice the training would buy. Runs stop after SECONDS (default
# 1200) and keep their last finished epoch. Score each on real photos afterwards with
#   python benchmarks/real.py --weights OUT_DIR/runs/NAME/last.pt --label "..."
# Numbers from a GPU differ a little from the CPU's (mixed precision, other kernels):
# compare variants with the "base" run of the same call, not with the shipped weights.
# Measured once, on 16 cores and one GPU: each of the 8 runs trained about 620 images/s
# (the CPU side of each step bounds it), so the whole recipe takes about 13 minutes;
# snapshots taken half-way through the schedule were too noisy to choose between variants.
set -uo pipefail
out=${1:?usage: ablation.sh OUT_DIR [SECONDS]}
limit=${2:-1200}
images=${NUM_TRAIN:-33402}  # the synthetic train split; "data2x" and "combo" use twice as many
python=${PYTHON:-python3}
mkdir -p "$out/runs" "$out/logs"
cores=$(nproc)

# The generated images once, with every core; each run then reads its own copy, so that
# runs preparing the same images at once never share (and race on) a datasets cache file.
export HF_DATASETS_CACHE="$out/cache/generated"
start=$(date +%s)
IMAGES=$(( 2 * images )) "$python" - <<'EOF' || exit 1
import os
from yolo_smol.data.synthetic import load_synthetic
for split, count in (("train", int(os.environ["IMAGES"])), ("test", 2000)):
    load_synthetic(split, count, seed=0, num_proc=os.cpu_count())
EOF
echo "generated $(( 2 * images )) + 2000 images in $(( $(date +%s) - start )) s"

recipe=(--model_config configs/smol128x64.json --batch_size 64 --lr 5e-3 --eval_every 7
        --checkpoint_epoch 100 --num_test 2000 --seed 0 --exist_ok)
declare -A variants=(
  [base]="--num_epochs 14 --num_train $images"
  [lr1e-2]="--num_epochs 14 --num_train $images --lr 1e-2"
  [wd0.05]="--num_epochs 14 --num_train $images --weight_decay 0.05"
  [giou]="--num_epochs 14 --num_train $images --box_loss giou"
  [aug0.8]="--num_epochs 14 --num_train $images --augment_prob 0.8"
  [data2x]="--num_epochs 7 --num_train $(( 2 * images ))"
  [combo]="--num_epochs 7 --num_train $(( 2 * images )) --lr 1e-2 --weight_decay 0.05"
  [long]="--num_epochs 28 --num_train $images"
)
threads=$(( cores / ${#variants[@]} > 0 ? cores / ${#variants[@]} : 1 ))
for name in "${!variants[@]}"; do
  mkdir -p "$out/cache/$name"
  cp -r "$out/cache/generated/yolo_smol_synthetic" "$out/cache/$name/"
  # shellcheck disable=SC2086  # the variant's flags are meant to split
  HF_DATASETS_CACHE="$out/cache/$name" OMP_NUM_THREADS=$threads timeout "$limit" \
    "$python" -m yolo_smol train "${recipe[@]}" ${variants[$name]} --workers "$threads" \
    --save_dir "$out/runs/$name" >"$out/logs/$name.log" 2>&1 &
done
wait
for name in "${!variants[@]}"; do
  echo "== $name: ${variants[$name]}"
  grep '^epoch' "$out/logs/$name.log" | tail -2
done
