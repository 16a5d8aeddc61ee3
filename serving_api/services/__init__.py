"""Service layer of the API: pure-ish functions and caches used by the routes."""
