"""The volunteer service's rules, by subject: registration (real name, matched to the
registry), teams, activities, sign-ups (capacity no race can exceed), attendance (the time
window, the geofence, the organiser's QR code), the append-only hours ledger, and the
figures toward the 10% registration target."""
