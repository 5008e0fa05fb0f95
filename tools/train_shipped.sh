#!/usr/bin/env bash
# Rebuild the shipped model weights from phantoms: one command, fixed seeds.
#   bash tools/train_shipped.sh [WORK_DIR]      (default: data/, ignored by git)
# Training seeds 1000-1139 (110 RGB + 30 JPEG phantoms of 20 frames, rendering families drawn from
# phantom.TRAINING_FAMILIES). Held-out test seeds 5000-5011 (training families) and 5100-5111
# (phantom.HELD_OUT_FAMILY, never trained on). About 27 minutes on 2 CPU cores (README: Training).
set -euo pipefail
work=${1:-data}
py=${PYTHON:-python}
heldout=$("$py" -c "import phantom; print(phantom.HELD_OUT_FAMILY)")
gen() { "$py" phantom.py -o "$work/$1" --seed "$2" -n "$3" --frames 20 "${@:4}"; }
if [ ! -f "$work/test_heldout/quality_annotations.csv" ]; then
  gen train_dcm 1000 110
  gen train_dcm_jpeg 1110 30 --jpeg
  gen test_dcm 5000 12
  gen test_heldout 5100 12 --family "$heldout"
fi
build() {
  "$py" -m quality_classification.create_dataset -i "$work/$1" -o "$work/quality_$2" -a "$work/$1/quality_annotations.csv"
  "$py" -m heart_segmentation.create_dataset -i "$work/$1" -o "$work/seg_$2" -a "$work/$1/quality_annotations.csv"
}
if [ ! -d "$work/seg_heldout" ]; then
  build train_dcm train
  build train_dcm_jpeg train
  build test_dcm test
  build test_heldout heldout
fi
mkdir -p runs
# One after the other, each on both cores. The segmenter: 3 epochs on square windows at a learning
# rate of 0.002, 2 more from its best epoch at 0.0005 (which the validation Dice improves on), then
# 3 epochs from those weights on windows half as wide as high (--aspect 0.5: twice the time
# resolution, which the tips of end-diastole and end-systole need) with the border-weighted loss.
"$py" -m heart_segmentation.train -d "$work/seg_train" -e 3 -b 8 -p 128 --width 256 --filters 16 -l 0.002 --seed 1 \
  --threads 2 -o runs/seg > runs/seg.log 2>&1
"$py" -m heart_segmentation.train -d "$work/seg_train" -e 2 -b 8 -l 0.0005 --seed 1 -f runs/seg/heart-seg-net.pt \
  --threads 2 -o runs/seg_fine > runs/seg_fine.log 2>&1
"$py" -m heart_segmentation.train -d "$work/seg_train" -e 3 -b 8 -l 0.001 --seed 1 --init runs/seg_fine/heart-seg-net.pt \
  --aspect 0.5 --threads 2 -o runs/seg_a05 > runs/seg_a05.log 2>&1
# The classifier: 3 epochs, then 2 more from its best at a learning rate of 0.0003, which took the
# held-out family's window accuracy from 0.85 to 0.89 and its reported good beats from 86 % to 92 %
# (tools/evaluate_pipeline.py). (Its validation accuracy was best after the second of those epochs:
# 0.869, 0.970, 0.953, 0.963 over four. One more epoch with the wider augmentation of blur and a gain
# slope lowered its false positives but rejected whole clean recordings; it was not shipped.)
# --threads 2: two copies of each network share every batch, one per core (networks.parallel).
"$py" -m quality_classification.train -d "$work/quality_train" -t npy -e 3 -b 16 -p 128 --seed 1 \
  --threads 2 -o runs/quality > runs/quality.log 2>&1
"$py" -m quality_classification.train -d "$work/quality_train" -t npy -e 2 -b 16 -p 128 --seed 1 -l 0.0003 \
  -f runs/quality/quality-clas-net.pt --threads 2 -o runs/quality_more > runs/quality_more.log 2>&1
cp runs/seg_a05/heart-seg-net.pt heart_segmentation/checkpoints/heart-seg-net.pt
# The shipped classifier was trained by this recipe on an earlier phantom.py; the one it gives today
# reports fewer good beats and calls the real good window bad (README: Training), so it is left in
# runs/ and the shipped one kept. Copy it over yourself to use it.
echo "classifier trained here: runs/quality_more/quality-clas-net.pt (the shipped one is kept: README, Training)"
for split in test heldout; do
  echo "== $split"
  "$py" -m heart_segmentation.test -d "$work/seg_$split"
  "$py" -m quality_classification.test -d "$work/quality_$split" -t npy
done
