"""Model kinds: the registry that ``rnnrs.load`` dispatches on (``registry``), the recurrent
language model (``rnnlm``) and its diagnostics (``diagnostics``)."""
