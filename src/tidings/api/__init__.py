"""Thin operation handlers: validated params in, output dicts out; the work is in the services."""
