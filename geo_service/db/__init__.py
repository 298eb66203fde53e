"""Database access: the embedded cluster, engines, schema and migrations."""
