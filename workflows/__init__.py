"""Built-in workflow definitions (TOML data files loaded by cycle.workflow)."""
