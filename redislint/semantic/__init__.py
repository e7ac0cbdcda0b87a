"""Shared analysis every rule asks instead of re-deriving: clients, keys, context."""
