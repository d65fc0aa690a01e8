"""The paper's analyses: Pre-Mask quality, overlapping-instance subsets, figures."""
