"""Acquisition-quality classification of M-mode windows with CardioNet."""
from quality_classification.model import CardioNet, CardioNetConfig
from quality_classification.predict import classify_windows, load_checkpoint, predict_single

__all__ = ["CardioNet", "CardioNetConfig", "classify_windows", "load_checkpoint", "predict_single"]
