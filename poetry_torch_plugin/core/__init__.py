"""Pure values and rules: no I/O, no Poetry, no cleo."""
