"""Derived weights of the query-type classifier (no annotation text); see tvgbench.data.qtype."""
