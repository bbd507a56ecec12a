"""Personal data: the keys, sealing of contact fields and dead letters, and erasure."""
