"""Core of the M-mode pipeline: reading, stitching, beats, windows and results.

Pure computation lives in ``stitch``, ``beats`` and ``windows``; reading DICOM
(``dicom_io``), networks (``inference``), CSV (``results``) and plots
(``plots``) are the edges.
"""
