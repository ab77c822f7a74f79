"""Real-time delivery to kiosks and operators: stream history now; `/cable` in a later slice."""
