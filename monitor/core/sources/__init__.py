"""Source parsers: bytes in, entries out (pure)."""
