"""The engines that do the numeric work, and how one is chosen.

``selection`` picks the backend ("rust" when the compiled ``rnnrs._core`` imports, else
"numpy"); ``engines`` builds a language model's engine; ``numpy_rnnlm`` and ``numpy_ngram`` are the NumPy
backend's engines, built on the spec in ``rnnrs.reference`` (``arpa`` and ``ngram_binary``
are the n-gram engine's files); ``arrays`` checks the arrays handed to an engine;
``threads`` sets the Rust core's thread count.
"""
