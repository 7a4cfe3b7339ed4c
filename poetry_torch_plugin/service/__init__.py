"""Orchestration: one function per command, and the hook after Poetry commands."""
