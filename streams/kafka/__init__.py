"""Plain Kafka clients (admin, CLI readers and producers, tools); the worker runs on Faust.

Every client is made by ``streams.kafka.clients``, so connection settings (and, later,
security settings) reach all of them from one place.
"""
