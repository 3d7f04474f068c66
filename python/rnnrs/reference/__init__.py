"""The NumPy reference implementation: the executable specification of every kernel of
rnnrs (docs/equations.md), and the ``numpy`` backend (``engine.NumpyEngine``).

Modules: ``cells`` (rnn_tanh, rnn_relu, lstm, gru over a chunk, forward and BPTT),
``stack`` (layers, directions, dropout), ``embedding``, ``loss`` (linear + softmax
cross-entropy), ``lm`` (the whole language model), ``clip``, ``optim``, ``dropout``,
``engine``; ``bpe`` (byte-level BPE training and encoding, the spec of the Rust tokenizer).
"""
