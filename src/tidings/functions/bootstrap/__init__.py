"""Bootstraps that run inside execution environments (standard library / Node core only)."""
