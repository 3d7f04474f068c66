"""Files rnnrs writes and reads: atomic writes (``atomic``), safetensors (``safetensors``),
small JSON files (``jsonfile``), checkpoints (``checkpoint``) and PyTorch state_dicts
(``torch_interop``)."""
