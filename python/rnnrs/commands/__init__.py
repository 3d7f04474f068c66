"""Sub-commands of the ``rnnrs`` command line, one module each (see rnnrs.cli)."""
