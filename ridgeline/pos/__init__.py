"""POS integration: one adapter per POS dialect behind one interface, and the resilient client."""
