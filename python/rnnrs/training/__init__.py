"""Training: the Trainer, optimizers, schedules and evaluation metrics."""
