"""Catalog sync: the engine that brings a store's POS catalog and stock into ours (docs/sync.md)."""
