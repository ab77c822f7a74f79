"""The audit trail: who changed what, when, from where (docs/security.md#audit-trail)."""
