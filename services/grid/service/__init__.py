"""The grid's business rules, by subject: the cell index (state), cells and their geometry,
members, household visits, cases with working-time deadlines and KPIs, and offline sync."""
