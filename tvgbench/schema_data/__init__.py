"""Derived forms of the sample schema (tvgbench.schema.features), stored so writers need not import datasets."""
