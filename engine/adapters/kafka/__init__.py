"""The Kafka adapters: the event log, its consumers and the tail reader."""
