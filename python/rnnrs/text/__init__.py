"""Text in and out: tokenizers (``tokenizers``), corpora (``corpus``) and batches of token
ids for truncated BPTT (``batching``)."""
