"""Lead <-> deal conversions: Pipedrive converts in the background, so the step waits for the result.

Starting a conversion returns its ID; the status is then read with growing pauses until it is
completed (the new record is read and returned), failed or rejected (an error), or the wait is used
up. A timeout is `outcome_unknown` and carries the conversion ID: the conversion may still finish,
so running the step again could convert twice.
"""

import re
import time

from pipedrive_connect.errors import StepError

WAIT_SECONDS = 60  # the schema's default for waitSeconds (the runtime passes only what was given)
FIRST_PAUSE, LONGEST_PAUSE = 0.5, 5.0
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_INT = re.compile(r"^[1-9][0-9]*$")
# source resource -> (status field of the new record, its API, path, token cost, id pattern, noun, target)
TARGETS = {
    "leads": ("deal_id", "v2", "/deals/{}", 1, _INT, "lead", "deal"),
    "deals": ("lead_id", "v1", "/leads/{}", 2, _UUID, "deal", "lead"),
}


def convert(call):
    field, api, path, cost, pattern, noun, target = TARGETS[call.action.resource]
    record_id = call.inputs["id"]
    started = call.submit(call.wire()) or {}
    conversion_id = _checked(started.get("conversion_id"), _UUID, "conversion ID")
    status_path = f"/{call.action.resource}/{record_id}/convert/status/{conversion_id}"
    wait = call.inputs.get("waitSeconds", WAIT_SECONDS)
    deadline, pause = time.monotonic() + wait, FIRST_PAUSE
    details = {"conversion_id": conversion_id, f"{noun}_id": record_id}
    while True:
        status = call.send(method="GET", path=status_path, api="v2", cost=1).data or {}
        state = status.get("status")
        if state == "completed":
            new_id = _checked(status.get(field), pattern, f"{target} ID")
            return call.send(method="GET", path=path.format(new_id), api=api, cost=cost).data
        if state in ("failed", "rejected"):
            raise StepError(
                "rejected",
                f"Pipedrive reports the conversion {conversion_id} of {noun} {record_id} as {state}",
                details={**details, "status": state},
            )
        left = deadline - time.monotonic()
        if left <= 0:
            raise StepError(
                "outcome_unknown",
                f"The conversion {conversion_id} of {noun} {record_id} was not finished within {wait} seconds "
                f"(status: {state}); it may still finish: check it with Get {noun.capitalize()} Conversion Status "
                "before running the step again",
                details={**details, "status": state},
            )
        time.sleep(min(pause, left))
        pause = min(pause * 2, LONGEST_PAUSE)


def _checked(value, pattern, what):
    """An ID from Pipedrive's answer goes into a request path: only the expected form is used."""
    if value is None or not pattern.match(str(value)):
        raise StepError("server", f"Pipedrive's answer holds no usable {what}: {value!r}")
    return str(value)
