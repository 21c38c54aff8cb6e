"""Pipeline configuration: models, loading, durations and calendars."""
