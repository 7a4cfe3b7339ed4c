"""Installer backends (pip, uv), child processes, resolution of the torch lock."""
