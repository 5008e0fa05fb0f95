"""The pipeline and command-line layer: loads the networks, hands them to the core analysis as one
object (mmode.analysis.Networks), runs recordings in helper processes and writes each file's outputs.

Imports the core (``mmode``), ``networks`` and both model packages; nothing imports it but the
scripts at the top (end2end_framework.py, run4all.py, analyse_study.py, tools, tests).
"""
