"""Persons: write one custom field whose key is itself an input; upload a picture (multipart)."""

import json

from pipedrive_connect.errors import StepError
from pipedrive_connect.files import Upload


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


def add_picture(call):
    """The image as a multipart part named `file`, the crop inputs as form fields beside it."""
    path, name = call.code("files").chosen_file(call)
    request = call.wire()
    request.form, request.files = True, Upload({"file": (name, path)})
    return call.submit(request)
