"""HTTP adapters: one router per OpenStack service (identity, networking, compute, alarming)
plus Stateward's own /v1. Routers translate HTTP to use cases and nothing more."""
