"""The shared kernel every service imports: settings, database, errors, auth, pagination,
ids, validators and personal-data helpers. It imports no service."""
