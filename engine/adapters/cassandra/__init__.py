"""The Cassandra adapters: the CQL session and the stores and views on it."""
