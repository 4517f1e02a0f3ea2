"""Local Kafka + Cassandra launcher: see infra.py and README.md."""
