"""Torch pieces both networks share: checkpoint files, input batches, augmentation, training runs.

The layer between the core (``mmode``, no torch) and the two model packages
(``heart_segmentation``, ``quality_classification``): it imports torch and
``mmode``, and neither model package.
"""
