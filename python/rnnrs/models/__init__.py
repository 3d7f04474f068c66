"""Model kinds: the recurrent language model (``rnnlm``) and its diagnostics
(``diagnostics``)."""
