"""The `timeline` command: the one place that wires the services together."""
