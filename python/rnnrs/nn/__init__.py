"""The pieces every neural model is built from: configuration checks (``config``) and the
recurrent encoder layers (``recurrent``)."""
