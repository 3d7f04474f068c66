"""The pieces every neural model is built from: configuration checks (``config``), weight
initialisation (``init``) and the recurrent encoder layers (``recurrent``)."""
