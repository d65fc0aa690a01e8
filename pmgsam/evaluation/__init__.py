"""Metrics (DIS, COS instances) and benchmark tables."""
