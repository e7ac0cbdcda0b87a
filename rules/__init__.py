"""redislint's rules, one module per rule. Installed as `redislint.rules`."""
