"""The seed tutorials' own numpy code, kept as published (modulo semicolons): the reference that
fastnn's parity tests and ``python -m fastnn bench`` compare against. Not part of the fastnn API."""
