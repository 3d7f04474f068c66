"""Type stubs for the compiled extension rnnrs._core (checked by mypy.stubtest in CI)."""

__version__: str
__all__ = ["__version__"]
