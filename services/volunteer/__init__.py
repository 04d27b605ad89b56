"""Volunteer: registration, teams, activities, the hours ledger."""
