"""Purchase limits at the kiosk: jurisdiction profiles as data, and the check of a cart against
its store's profile (docs/compliance.md)."""
