"""Monlight integration modules for web frameworks and logging."""
