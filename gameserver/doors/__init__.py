"""Doors: each owns a wire, translating it to the core's typed messages and events back."""
