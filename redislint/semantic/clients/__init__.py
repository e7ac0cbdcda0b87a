"""Is this expression a Redis client? The inference every rule relies on: start here."""
