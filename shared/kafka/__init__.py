"""Kafka plumbing: durable producers, reliable consumers, dead letters, topic admin."""
