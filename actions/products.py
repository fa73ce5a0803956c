"""Product images: multipart uploads whose file part is named `data`."""

from pipedrive_connect.files import Upload


def upload_image(call):
    """Upload or replace the product's image (the declared method and path, the file as multipart)."""
    path, name = call.code("files").chosen_file(call)
    request = call.wire()
    request.body, request.form, request.files = {}, True, Upload({"data": (name, path)})
    return call.submit(request)
