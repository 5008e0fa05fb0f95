"""Small helpers shared by the tests."""
import numpy as np
import pydicom


def rewrite_dicom(source, target, change):
    """Copy a DICOM file, applying ``change(dataset)`` on the way; return ``target``."""
    ds = pydicom.dcmread(source)
    change(ds)
    ds.save_as(target, enforce_file_format=True)
    return target


def log_probs(labels: np.ndarray, n_classes: int = 4, certain: float = 0.98) -> np.ndarray:
    """Confident class log-probabilities (n_classes, rows, width) from a label image, as a network's."""
    prob = np.full((n_classes, *labels.shape), (1 - certain) / (n_classes - 1), dtype=np.float32)
    for cls in range(n_classes):
        prob[cls][labels == cls] = certain
    return np.log(prob)
