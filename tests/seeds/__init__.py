"""The seed tutorials' own numpy code, kept verbatim (modulo semicolons) as the parity reference."""
