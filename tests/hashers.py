from django.contrib.auth.hashers import PBKDF2PasswordHasher


class FastPBKDF2PasswordHasher(PBKDF2PasswordHasher):
    """The production algorithm with one iteration: fast tests, and the hashes stay verifiable
    by the servers the live tests start with production settings (the count is in the hash)."""

    iterations = 1
