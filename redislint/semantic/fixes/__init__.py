"""Building fixes honestly: replacement nodes and the questions a fix asks first."""
