"""The chassis agent: heartbeats, local service supervision (and, elsewhere, OVS and L3 HA)."""
