"""The project's files: pyproject.toml and poetry-torch.lock, read and written."""
