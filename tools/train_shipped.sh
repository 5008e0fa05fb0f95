#!/usr/bin/env bash
# Rebuild the shipped model weights from phantoms: one command, fixed seeds.
#   bash tools/train_shipped.sh [WORK_DIR]      (default: data/, ignored by git)
# Training seeds 1000-1119 (90 RGB + 30 JPEG phantoms, 16 frames each); held-out test
# seeds 5000-5019. About 45 minutes on 2 CPU cores (both networks train side by side).
set -euo pipefail
work=${1:-data}
py=${PYTHON:-python}
gen() { "$py" phantom.py -o "$work/$1" --seed "$2" -n "$3" --frames 16 "${@:4}"; }
if [ ! -f "$work/test_dcm_jpeg/quality_annotations.csv" ]; then
  gen train_dcm 1000 90
  gen train_dcm_jpeg 1090 30 --jpeg
  gen test_dcm 5000 14
  gen test_dcm_jpeg 5014 6 --jpeg
fi
for split in train test; do
  for d in "$work/${split}_dcm" "$work/${split}_dcm_jpeg"; do
    "$py" -m quality_classification.create_dataset -i "$d" -o "$work/quality_$split" -a "$d/quality_annotations.csv"
    "$py" -m heart_segmentation.create_dataset -i "$d" -o "$work/seg_$split" -a "$d/quality_annotations.csv"
  done
done
mkdir -p runs
"$py" -m heart_segmentation.train -d "$work/seg_train" -e 7 -b 16 -p 128 --width 256 --filters 16 -l 0.003 --seed 1 \
  --threads 1 -o runs/seg > runs/seg.log 2>&1 &
"$py" -m quality_classification.train -d "$work/quality_train" -t npy -e 4 -b 16 -p 128 --seed 1 \
  --threads 1 -o runs/quality > runs/quality.log 2>&1 &
wait
cp runs/seg/heart-seg-net.pt heart_segmentation/checkpoints/heart-seg-net.pt
cp runs/quality/quality-clas-net.pt quality_classification/checkpoints/quality-clas-net.pt
"$py" -m heart_segmentation.test -d "$work/seg_test"
"$py" -m quality_classification.test -d "$work/quality_test" -t npy
