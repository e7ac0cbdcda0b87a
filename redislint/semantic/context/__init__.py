"""Where the code runs and what it talks to besides Redis: frameworks, databases."""
