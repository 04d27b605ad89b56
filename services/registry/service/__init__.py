"""The registry's business rules, one module per subject (areas, stats, buildings,
households, residents, units, imports, sync). Authorisation decisions live here; queries
live in ``repository``."""
