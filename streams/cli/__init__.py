"""The ``ordertriage`` command line: one click group, a module per command family."""
