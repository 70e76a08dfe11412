"""Auditing a dataset: label issues (out-of-fold), near-duplicates, train / valid leaks."""
