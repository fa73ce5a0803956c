"""Options of choice fields (API v2): Pipedrive takes the list of options itself as the body, not an object."""


def options(call):
    """Add, rename or remove options: the declared request with the Options input as the whole JSON body."""
    request = call.wire()
    request.body = call.inputs["options"]
    return call.submit(request)
