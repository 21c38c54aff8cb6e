"""A fixed instant shared by the hardening tests."""

import datetime as dt

NOW = dt.datetime(2026, 3, 5, 6, 0, tzinfo=dt.UTC)
