"""The embedded backend: every port on SQLite files in one data folder."""
