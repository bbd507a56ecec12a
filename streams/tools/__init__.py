"""Tools around the worker: the demo, the sample producer, ``top``, throughput and the bench."""
