"""Text: tokenizers, corpus reading, batching and task data readers."""
