"""NumPy / pure-Python reference implementations: the executable specification of the Rust core."""
