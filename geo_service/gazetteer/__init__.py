"""Gazetteer: standard place names (地名), their romanisation and search keys."""
