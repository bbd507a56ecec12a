"""Fault scenarios judged by the verifier (``make faults``); not collected by pytest."""
