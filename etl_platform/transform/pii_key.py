"""The masking secret as a resource: it comes from the environment, never from code or logs."""

from __future__ import annotations

import dagster as dg

# Only for the `local` environment, so a laptop demo runs without set-up. Tokens made with it are
# reversible by anyone who reads this file: never use it for real data.
LOCAL_DEVELOPMENT_KEY = "etl-platform-local-development-key-not-a-secret"


class PiiKey(dg.ConfigurableResource):  # type: ignore[type-arg]
    """The HMAC key for PII tokens; set `ETL_PII_KEY` (32+ random bytes) anywhere but `local`."""

    secret: str

    def key_bytes(self) -> bytes:
        """The key as bytes; refuses keys too short to resist brute force."""
        if len(self.secret) < 16:
            raise ValueError("ETL_PII_KEY must be at least 16 characters")
        return self.secret.encode("utf-8")
