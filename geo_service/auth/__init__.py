"""Accounts, roles and login: users in PostGIS, argon2 hashes, revocable opaque tokens."""
