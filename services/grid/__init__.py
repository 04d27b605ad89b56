"""Grid: cells, grid workers, visits, cases, offline sync."""
