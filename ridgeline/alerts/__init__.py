"""Operator alerts: what a person must hear about (a store in error, an order that could not be
sent, a failed sync), stored, pushed on the organization's ops stream, listed, acknowledged and
resolved over the API."""
