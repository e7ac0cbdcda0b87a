"""Where values and calls go inside one scope: bindings, results, loops, order."""
