"""Helpers shared by the tests: model builders, recipes, fixtures (import as `support.<module>`)."""
