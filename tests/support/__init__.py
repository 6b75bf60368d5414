"""Helpers and fixtures shared by the tests and the scripts (imported as `support.x` or `tests.support.x`)."""
