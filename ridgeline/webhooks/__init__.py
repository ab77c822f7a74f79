"""POS webhooks: events a POS pushes to us, stored first and processed once."""
