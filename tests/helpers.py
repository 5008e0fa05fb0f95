"""Small helpers shared by the tests."""
import pydicom


def rewrite_dicom(source, target, change):
    """Copy a DICOM file, applying ``change(dataset)`` on the way; return ``target``."""
    ds = pydicom.dcmread(source)
    change(ds)
    ds.save_as(target, enforce_file_format=True)
    return target
