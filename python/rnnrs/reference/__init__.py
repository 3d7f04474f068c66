"""The NumPy reference implementation: the executable specification of every kernel of
rnnrs (docs/equations.md). Pure NumPy: it imports nothing else from rnnrs; the ``numpy``
backend's engines are built on it in ``rnnrs.backends``.

Modules: ``cells`` (rnn_tanh, rnn_relu, lstm, gru over a chunk, forward and BPTT),
``stack`` (layers, directions, dropout), ``embedding``, ``loss`` (linear + softmax
cross-entropy), ``class_softmax`` (the class-factored output layer), ``lm`` (the whole
language model), ``clip``, ``optim``, ``dropout``;
``bpe`` (byte-level BPE training and encoding, the spec of the Rust tokenizer);
``ngram`` (n-gram counting, every smoothing method, scoring: the spec of src/ngram).
"""
