"""File uploads (multipart) and downloads (streamed to the log output)."""

from pathlib import Path

from pipedrive_connect.errors import StepError
from pipedrive_connect.files import Upload, filename_from_disposition, safe_filename, stream_to_file, unique_path

ENTITY_FIELDS = {
    "deal": "deal_id",
    "person": "person_id",
    "organization": "org_id",
    "product": "product_id",
    "activity": "activity_id",
    "lead": "lead_id",
}


def chosen_file(call):
    """The file to upload: the `file` input, else the job's first attachment; (path, default name)."""
    if call.inputs.get("file"):
        path = call.readable_file(call.inputs["file"], "file")
        return path, path.name
    if call.job.files:
        attachment = call.job.files[0]
        return call.readable_file(attachment.path, "file"), attachment.name
    raise StepError("input", "Input 'file' is required when the job has no attachment", input_path="file")


def add_file(call):
    inputs = call.inputs
    path, default_name = chosen_file(call)
    entity_type = inputs["entityType"]
    entity_id = inputs["entityId"] if entity_type == "lead" else int(inputs["entityId"])  # the schema checked it
    name = inputs.get("fileName") or default_name
    response = call.send(body={ENTITY_FIELDS[entity_type]: entity_id}, form=True, files=Upload({"file": (name, path)}))
    return response.data


def download_file(call):
    """Stream the file to the log folder under a safe name; the job carries its details."""
    file_id = call.inputs["id"]
    response = call.send(path=call.wire().path, stream=True, expect="binary")
    raw = response.raw
    name = filename_from_disposition(raw.headers.get("Content-Disposition"))
    if not name:  # no name on the download: ask the file's metadata (2 tokens)
        name = (call.send(method="GET", path=f"/files/{file_id}", cost=2).data or {}).get("name")
    name = name or f"file-{file_id}"
    content_type = raw.headers.get("Content-Type", "application/octet-stream").split(";")[0]
    target = unique_path(call.log_dir, safe_filename(name, f"file-{file_id}"))
    size = stream_to_file(raw, target, call.inputs.get("maxBytes", 100 * 1024 * 1024))
    call.log_file(name, target, content_type, size)
    return {"id": file_id, "name": name, "content_type": content_type, "size": size, "path": str(Path(target))}
