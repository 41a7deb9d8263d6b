"""`python manage.py sanitize`."""
