"""Training any model kind: the ``Trainer`` (``trainer``), optimizers (``optimizers``),
learning-rate schedules (``schedules``), evaluation metrics (``metrics``) and loss curves
(``plotting``)."""
