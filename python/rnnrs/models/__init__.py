"""Model kinds: the registry that ``rnnrs.load`` dispatches on (``registry``), the recurrent
language model (``rnnlm``) and its diagnostics (``diagnostics``), the sequence classifier
(``classifier``), and what every model shares with its engine (``engine_backed``)."""
