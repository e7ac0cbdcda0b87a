"""What runs as one step: pipelines, transactions, Lua scripts and locks."""
