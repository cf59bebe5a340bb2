"""The doors: each owns one wire (JSON Lines, IRC, SSH) and translates it for the core."""
