"""Views of genes: builtin descriptors (no download), ProstT5 and ESM-2 + Bacformer foundation models."""
