"""The Discord surface: one cog per command group, thin over :mod:`bot`."""
