"""Persistence (SQLite) and the mapping authority (where each active VM lives)."""
