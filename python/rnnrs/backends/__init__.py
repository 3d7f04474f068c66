"""The engines that do the numeric work, and how one is chosen.

``selection`` picks the backend ("rust" when the compiled ``rnnrs._core`` imports, else
"numpy"); ``engines`` builds every engine object of either backend (the one module that
constructs the Rust core's classes); ``numpy_rnnlm`` and ``numpy_ngram`` are the NumPy
backend's engines, built on the spec in ``rnnrs.reference``, with the n-gram engine's files
in ``arpa`` and ``ngram_binary``; ``arrays`` checks the arrays handed to an engine;
``threads`` sets the Rust core's thread count.
"""
