"""gameclient package."""
