"""The original's name for the training script: ``python -m heart_segmentation.run`` = train."""
from heart_segmentation.train import main

if __name__ == "__main__":
    raise SystemExit(main())
