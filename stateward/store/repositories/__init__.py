"""Repositories: the store's queries, behind methods that speak the domain's language."""
