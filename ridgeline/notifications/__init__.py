"""Operator alerts: what a person must hear about (an order that could not be sent, a failed
sync), stored, pushed on the organization's ops stream, listed and acknowledged over the API."""
