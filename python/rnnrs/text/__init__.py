"""Text in and out: tokenizers (``tokenizers``), corpora (``corpus``), batches of token ids
for truncated BPTT (``batching``), and the readers and writers of task data (``tasks``)."""
