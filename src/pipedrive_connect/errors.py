"""The structured error that travels on the `error` route.

Every failure a step can meet is turned into one `StepError` so a flow designer can
route on its `kind` and decide on retries from `retryable`, without parsing text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# kind -> what it means for the person running the flow
KINDS = {
    "input": "an input is missing or invalid; nothing was sent to Pipedrive",
    "connection": "the credentials or the account were refused (401, 402, 403)",
    "not_found": "the record does not exist or is gone (404, 410)",
    "rate_limited": "Pipedrive's burst limit was hit (429); retry after the window",
    "budget_exhausted": "the company's daily API token budget is spent; retry after it resets",
    "rejected": "Pipedrive refused the request as invalid (400, 405, 415, 422, or a 2xx saying success false)",
    "server": (
        "Pipedrive failed or is in maintenance (5xx), or its answer was unusable (not JSON, too large, looping pages)"
    ),
    "network": "Pipedrive could not be reached, or its answer did not arrive in full",
    "ambiguous": "more than one record matches the key; make the key unique, or let the step pick one",
    "outcome_unknown": "a write may or may not have been applied; check before re-running",
    "unexpected": "a fault in the connector itself",
}


@dataclass
class StepError(Exception):
    kind: str
    message: str
    status: int | None = None
    pipedrive_error: str | None = None
    retryable: bool = False
    input_path: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown error kind {self.kind!r}")
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": self.kind,
            "message": self.message,
            "status": self.status,
            "pipedrive_error": self.pipedrive_error,
            "retryable": self.retryable,
            "input": self.input_path,
        }
        if self.details:
            out["details"] = self.details
        return out


class BundleError(Exception):
    """A broken connector bundle: names the file, the key and what is wrong."""

    def __init__(self, file: str, key: str | None, problem: str):
        self.file, self.key, self.problem = file, key, problem
        where = f"{file}" + (f" [{key}]" if key else "")
        super().__init__(f"{where}: {problem}")
