"""Posts an alert to a Slack-compatible incoming webhook, with no dependency beyond the stdlib.

The webhook URL is a secret (whoever holds it can post to the channel), so it never appears in an
error message: callers log and re-raise these errors, and Dagster stores them on the sensor tick.
"""

import http.client
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

TIMEOUT_SECONDS = 5.0
TRIES = 3
BACKOFF_SECONDS = 0.5


class AlertDeliveryError(Exception):
    """The webhook did not accept the alert; the message never contains the URL."""

    def __init__(self, message: str, *, transient: bool) -> None:
        super().__init__(message)
        # False for a 4xx but 429: that alert will never be accepted, retrying it only wedges.
        self.transient = transient


def post_alert(
    url: str,
    payload: dict[str, Any],
    *,
    tries: int = TRIES,
    backoff_seconds: float = BACKOFF_SECONDS,
) -> None:
    """POST the payload as JSON, retrying connection errors and 5xx with exponential backoff.

    A 4xx is not retried: the request itself is wrong (revoked webhook, malformed body) and sending
    it again at once cannot succeed.

    Raises:
        AlertDeliveryError: After the last try, or at once on a 4xx; `transient` says whether the
            alert may succeed later (connection errors, 5xx, 429).
    """
    # urllib's own ValueError for a bad URL quotes the URL: refuse it before urllib sees it.
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise AlertDeliveryError("the webhook URL is not an http(s) URL", transient=False)
    body = json.dumps(payload).encode()
    reason = ""
    for attempt in range(tries):
        if attempt:
            time.sleep(backoff_seconds * 2 ** (attempt - 1))
        request = urllib.request.Request(
            url, data=body, headers={"Content-Type": "application/json"}, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
                response.read()
            return
        except urllib.error.HTTPError as error:
            if error.code < 500:
                # 429 (Slack allows about one message a second) is worth sending again later.
                message = f"the webhook refused the alert: HTTP {error.code}"
                raise AlertDeliveryError(message, transient=error.code == 429) from None
            reason = f"HTTP {error.code}"
        except urllib.error.URLError as error:
            # Only the class name: some reasons (TLS name mismatch) quote the host.
            cause = error.reason
            reason = type(cause).__name__ if isinstance(cause, BaseException) else "URLError"
        except (OSError, http.client.HTTPException) as error:
            reason = type(error).__name__
    raise AlertDeliveryError(f"the webhook failed {tries} tries, last: {reason}", transient=True)
