"""Training any model kind: the ``Trainer`` (``trainer``), optimizers (``optimizers``),
learning-rate schedules (``schedules``) and loss curves (``plotting``)."""
