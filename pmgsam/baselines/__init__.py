"""Baselines the paper compares against, predicted and scored by PMG-SAM's own pipeline.

``python evaluate.py --baseline sam-auto|sam-box|sam2-auto|sam2-box|esam ...`` (see
:mod:`pmgsam.baselines.cli`). Families: :mod:`~pmgsam.baselines.sam` (segment-anything) and
:mod:`~pmgsam.baselines.sam2` (Meta's optional ``sam2`` package, imported only there); modes:
box prompts and the automatic generator (:mod:`~pmgsam.baselines.base`) and the E-SAM-style
automatic mode (:mod:`~pmgsam.baselines.esam`); the dataset loop is :mod:`~pmgsam.baselines.runner`.
"""
