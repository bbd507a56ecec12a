"""Plain Kafka clients (admin, CLI readers and producers, tools); the worker runs on Faust.

Every client is made by ``streams.kafka.clients``, so connection and security settings reach
all of them from one place; ``acls`` plans the least-privilege ACLs and ``preflight`` checks a
worker's login and rights before Faust starts.
"""
