"""The ``timer1`` command modules, one per command group; ``main`` is the root and loads the
others lazily through entry points (pyproject.toml), so ``timer1 --help`` stays light."""
