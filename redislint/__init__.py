"""redislint: find, fix and explain Redis usage anti-patterns in Python code."""

__version__ = "0.1.0"
