"""Assessment: co-building agreements and the assessment of communities."""
