"""The database: the Store and its transactions, plain SQL, the tables, the typed rows read, the schema's migrations."""
