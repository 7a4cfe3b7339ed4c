"""PyTorch indexes: how to reach them and what they list."""
