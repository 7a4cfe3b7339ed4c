"""The target environment on disk: what is installed, where, and the runtime probe."""
