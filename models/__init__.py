"""Storage: SQLModel tables, the database engine, the store, and Alembic migrations."""
