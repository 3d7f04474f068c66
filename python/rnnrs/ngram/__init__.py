"""n-gram language models: raw counts (``counts``) and smoothed models (``lm``)."""
