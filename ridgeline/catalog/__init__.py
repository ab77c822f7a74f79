"""The kiosk catalog: what kiosks browse, and the enrichment and RFID tags operators manage."""
