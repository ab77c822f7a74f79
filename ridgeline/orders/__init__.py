"""Kiosk orders: the order API, idempotency keys, the outbox and the submission to the POS.

See docs/orders.md.
"""
