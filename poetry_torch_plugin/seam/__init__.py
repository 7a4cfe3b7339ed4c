"""The only package that touches Poetry's internals."""
