"""Derived forms of the sample schema (tvgbench.core.schema.features), stored so writers need not import datasets."""
