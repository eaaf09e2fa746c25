"""Part of mailconduit.testing (filled in by its own module docstring when written)."""

__all__: list[str] = []
