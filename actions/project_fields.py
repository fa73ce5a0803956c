"""Options of a choice field: Pipedrive wants the list of options itself as the JSON body, not an object."""


def send_options(call):
    request = call.wire()
    request.body = call.inputs["options"]
    return call.submit(request)
