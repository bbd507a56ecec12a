"""Queryable state for people: per-dimension counts over time, open orders, customer summaries."""
