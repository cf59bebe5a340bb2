"""The door-neutral core: sessions, rooms, nicks, commands, games. No I/O, no bytes."""
