"""Pure-Python / NumPy reference implementations: the executable specification of every
numeric kernel of the Rust core, and the engines of the NumPy backend."""
