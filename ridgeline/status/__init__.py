"""The public status page: components whose status follows Ridgeline's own health, incidents,
scheduled maintenance and 90 days of uptime (docs/status-page.md)."""
