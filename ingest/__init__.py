"""The write API: validation, id assignment, append to the log."""
