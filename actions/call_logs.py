"""A call's audio recording: a multipart upload, which the generic handler (JSON bodies) cannot send."""

from pipedrive_connect.errors import StepError
from pipedrive_connect.files import Upload


def add_recording(call):
    if call.inputs.get("file"):
        path = call.readable_file(call.inputs["file"], "file")
        name = path.name
    elif call.job.files:
        attachment = call.job.files[0]
        path, name = call.readable_file(attachment.path, "file"), attachment.name
    else:
        raise StepError("input", "Input 'file' is required when the job has no attachment", input_path="file")
    response = call.send(path=call.wire().path, body={}, form=True, files=Upload({"file": (name, path)}))
    return response.data
