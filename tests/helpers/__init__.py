"""Helpers shared by the tests, the only place for them: import as `from tests.helpers.<module> import ...`."""
