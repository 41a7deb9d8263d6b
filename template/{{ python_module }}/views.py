"""Views. `health` answers Heroku's and your uptime checks without touching the database."""

from django.http import JsonResponse


def health(request):
    return JsonResponse({"status": "ok"})
