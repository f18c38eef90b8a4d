"""Tidings: a self-hosted campaign engine that speaks Amazon Pinpoint's API."""

__version__ = "0.1.0"
