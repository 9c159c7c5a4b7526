# Comparison target (never deployed): the protected route as a Django REST framework user writes it
# with djangorestframework-simplejwt, the system the seed documents describe, served by gunicorn.
# Stateless on purpose (JWTStatelessUserAuthentication: no database read), like edge-auth's
# claims-only route. Started by bench/lib/simplejwt.mjs with Debian's packages:
#   apt-get install python3-djangorestframework-simplejwt gunicorn
# Environment: JWT_SECRET, JWT_ISSUER, JWT_AUDIENCE (the service's), DJANGO_SECRET (random).
import os

from django.conf import settings

settings.configure(
    DEBUG=False,
    SECRET_KEY=os.environ["DJANGO_SECRET"],
    ALLOWED_HOSTS=["127.0.0.1"],
    ROOT_URLCONF=__name__,
    INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "rest_framework"],
    # Django's own security middleware, as a deployment would have it (edge-auth sets those headers too).
    MIDDLEWARE=["django.middleware.security.SecurityMiddleware", "django.middleware.common.CommonMiddleware"],
    DATABASES={},
    REST_FRAMEWORK={
        "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework_simplejwt.authentication.JWTStatelessUserAuthentication"],
        "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
        "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
        "UNAUTHENTICATED_USER": None,
    },
    SIMPLE_JWT={
        "ALGORITHM": "HS256",
        "SIGNING_KEY": os.environ["JWT_SECRET"],
        "ISSUER": os.environ["JWT_ISSUER"],
        "AUDIENCE": os.environ["JWT_AUDIENCE"],
        "USER_ID_CLAIM": "sub",
        "LEEWAY": 30,
        "AUTH_HEADER_TYPES": ("Bearer",),
    },
)

import django  # noqa: E402

django.setup()

from django.urls import path  # noqa: E402
from rest_framework.decorators import api_view  # noqa: E402
from rest_framework.response import Response  # noqa: E402


@api_view(["GET"])
def private(request):
    return Response({"message": "Hello from a protected route.", "user": {"id": str(request.user.id), "roles": request.auth.get("roles", [])}})


urlpatterns = [path("api/private", private)]

from django.core.wsgi import get_wsgi_application  # noqa: E402

application = get_wsgi_application()
