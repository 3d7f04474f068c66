"""What every model kind shares with its engine: the parameter dict, the optimizer, and the
dropout generator's state, all the engine's (docs/backends.md). ``RNNLM`` and
``SequenceClassifier`` derive from :class:`EngineBacked`; the Trainer calls these methods."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import numpy as np

from ..backends.arrays import check_param_dict
from ..errors import CheckpointError
from ..io.checkpoint import Checkpoint
from ..nn.config import building_from_tensors

Model = TypeVar("Model", bound="EngineBacked")


class EngineBacked:
    """A model whose numbers live in ``self.engine`` (the backend's engine object)."""

    engine: Any
    # Each model kind's own: its weights from a dict by name (shapes checked).
    set_parameters: Callable[[dict[str, np.ndarray]], None]
    # Tensors the optimizer leaves as they are (torch's requires_grad=False).
    frozen_parameters: tuple[str, ...] = ()

    @classmethod
    def restored(cls: type[Model], checkpoint: Checkpoint, *args: Any, **config: Any) -> Model:
        """``cls(*args, **config)`` holding the checkpoint's tensors, its size checked against
        them before anything is allocated; CheckpointError when config and tensors do not
        fit. Every model kind's ``from_checkpoint`` builds through here."""
        try:
            with building_from_tensors(checkpoint.tensors):
                model = cls(*args, **config)
            model.set_parameters(checkpoint.tensors)
        except (TypeError, ValueError) as exc:
            raise CheckpointError(
                f"{checkpoint.path}: config and tensors do not fit ({exc})"
            ) from None
        return model

    def parameters(self) -> dict[str, np.ndarray]:
        """Copies of the weights by PyTorch name (see docs/backends.md)."""
        return self.engine.get_parameters()

    def _load_parameters(
        self, params: dict[str, np.ndarray], shapes: Mapping[str, tuple[int, ...]]
    ) -> None:
        """Every weight of ``shapes`` from ``params`` (finite floats) into the engine;
        ValueError naming a missing, extra or misshapen tensor."""
        check_param_dict(params, shapes)
        for name, value in params.items():
            arr = np.asarray(value)
            if not np.issubdtype(arr.dtype, np.floating):
                raise TypeError(f"params[{name!r}]: expected a float array, got {arr.dtype}")
            if not np.all(np.isfinite(arr)):
                raise ValueError(f"params[{name!r}]: contains NaN or infinity")
        self.engine.set_parameters(
            {n: np.ascontiguousarray(v, dtype=np.float32) for n, v in params.items()}
        )

    def configure_optimizer(self, spec: dict[str, Any]) -> None:
        """Use the optimizer of ``spec`` (``rnnrs.Adam(...).spec()``, ...) from now on; its
        moments start at zero. Tensors in ``frozen_parameters`` are not trained."""
        self.engine.configure_optimizer(**spec, frozen=list(self.frozen_parameters))

    def optimizer_state(self) -> dict[str, np.ndarray]:
        """The optimizer's step and moments by torch.optim name (``exp_avg.<param>``, ...)."""
        return self.engine.optimizer_state()

    def load_optimizer_state(self, state: dict[str, np.ndarray]) -> None:
        """Restore :meth:`optimizer_state` (after configuring the same optimizer)."""
        self.engine.load_optimizer_state(state)

    def rng_state(self) -> np.ndarray:
        """The dropout generator's state (uint64 words; the engine's own generator)."""
        return self.engine.rng_state()

    def set_rng_state(self, state: np.ndarray) -> None:
        """Restore :meth:`rng_state`."""
        self.engine.set_rng_state(state)
