"""Django management commands of heroku_sanitize."""
