"""Reusable ComponentResources of the saas-platform program (one module per concern)."""
