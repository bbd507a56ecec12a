"""``make bench``: ordertriage side by side with a plain aiokafka ceiling and a Quix Streams peer.

``workload`` makes and preloads the seeded events, ``kafka`` holds the broker helpers,
``systems`` starts each system as its own process, ``measure`` turns outputs and process
samples into figures, ``report`` prints the table and writes the JSON, ``__main__`` runs it all.
``ceiling`` and ``peer`` are the two other systems' programs (the peer runs in its own venv).
"""
