"""Store backends beyond the embedded SQLite one (gameserver.store): PostgreSQL for clusters."""
