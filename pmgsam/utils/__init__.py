"""Shared helpers: configs, checkpoint I/O."""
