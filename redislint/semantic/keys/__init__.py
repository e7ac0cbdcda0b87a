"""Which key a command touches, and what the code does to keys of that shape."""
