"""The consumers that turn log events into projection rows."""
