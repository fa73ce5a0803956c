"""Persons: write one custom field whose key is itself an input."""

import json

from pipedrive_connect.errors import StepError


def set_custom_field(call):
    """PATCH the person with {"custom_fields": {<key>: value}}; 'Value is JSON' sends numbers, lists, objects
    or null."""
    value = call.inputs["value"]
    if call.inputs.get("valueIsJson") and isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise StepError("input", f"Input 'value' is not valid JSON: {exc}", input_path="value") from None
    resolve = call.code("custom_fields").resolve
    request = call.wire()
    request.body = {"custom_fields": resolve(call, {call.inputs["customFieldKey"]: value})}
    return call.submit(request)
