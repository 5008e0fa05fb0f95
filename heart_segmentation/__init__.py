"""Left-ventricle cavity segmentation with QuickNAT."""
from heart_segmentation.predict import load_checkpoint, predict_single, segment_image, window_logits
from heart_segmentation.quicknat import QuickNat, QuickNatConfig

__all__ = ["QuickNat", "QuickNatConfig", "load_checkpoint", "predict_single", "segment_image", "window_logits"]
