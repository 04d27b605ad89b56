"""Registry: areas, buildings, households, residents and resident units."""
