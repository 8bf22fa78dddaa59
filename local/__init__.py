"""Running courier on one machine without Docker or AWS (DESIGN §7)."""
