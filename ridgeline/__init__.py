"""Ridgeline: the backend that keeps in-store kiosks live with their store's POS."""

__version__ = "0.1.0"
