"""Uploads stream from disk: the file is never read into memory whole (issue 17, item 6)."""

from __future__ import annotations

import email.parser
import email.policy
import hashlib
import http.server
import threading
import tracemalloc

from pipedrive_connect.client import PipedriveClient, Request, RetrySettings
from pipedrive_connect.connection import Connection
from pipedrive_connect.files import Upload

from ..conftest import SANDBOX_TOKEN

SIZE = 24 * 1024 * 1024


class Receiver:
    """A loopback server that hashes the multipart body it is sent, in chunks, and answers 201."""

    def __init__(self):
        this = self
        self.bodies: list[tuple[str, int, str]] = []  # content type, length, sha256 of the body

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                length, digest = int(self.headers["Content-Length"]), hashlib.sha256()
                left = length
                while left:
                    chunk = self.rfile.read(min(left, 1 << 16))
                    digest.update(chunk)
                    left -= len(chunk)
                this.bodies.append((self.headers["Content-Type"], length, digest.hexdigest()))
                answer = b'{"success": true, "data": {"id": 7}}'
                self.send_response(201)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def client(self) -> PipedriveClient:
        base = f"http://127.0.0.1:{self.server.server_port}"
        connection = Connection.from_settings({"type": "apiToken", "api_token": SANDBOX_TOKEN, "base_url": base})
        return PipedriveClient(connection, retry=RetrySettings.none())


def test_an_upload_is_streamed_from_disk_not_read_into_memory(tmp_path):
    path = tmp_path / "big.bin"
    with path.open("wb") as fh:
        for i in range(SIZE // (1 << 20)):
            fh.write(bytes([i % 251]) * (1 << 20))
    receiver = Receiver()
    client = receiver.client()
    request = Request("POST", "v1", "/files", body={"deal_id": 3}, form=True, files=Upload({"file": ("big.bin", path)}))
    try:
        tracemalloc.start()
        answer = client.execute(request)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        receiver.server.shutdown()
    assert answer.data == {"id": 7}
    content_type, length, _ = receiver.bodies[0]
    assert content_type.startswith("multipart/form-data; boundary=")
    assert length > SIZE
    assert peak < SIZE / 8, f"the upload held {peak / 2**20:.1f} MiB in memory for a {SIZE / 2**20:.0f} MiB file"


def test_the_streamed_body_carries_the_form_fields_and_the_whole_file(tmp_path):
    path = tmp_path / "Bestellung Köln.pdf"
    path.write_bytes(b"%PDF-1.4 " + bytes(range(256)) * 40)
    received = []

    class Keep(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            received.append((self.headers["Content-Type"], self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(201)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "27")
            self.end_headers()
            self.wfile.write(b'{"success":true,"data":{}}\n')

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Keep)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    client = PipedriveClient(
        Connection.from_settings({"type": "apiToken", "api_token": SANDBOX_TOKEN, "base_url": base}),
        retry=RetrySettings.none(),
    )
    try:
        client.execute(
            Request(
                "POST",
                "v1",
                "/files",
                body={"deal_id": 3, "skip": None},
                form=True,
                files=Upload({"file": (path.name, path)}),
            )
        )
    finally:
        server.shutdown()
    content_type, body = received[0]
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
    )
    parts = {part.get_param("name", header="content-disposition"): part for part in message.iter_parts()}
    assert set(parts) == {"deal_id", "file"}  # a field set to None is left out, as requests does
    assert parts["deal_id"].get_content() == "3"
    assert parts["file"].get_filename() == path.name
    assert parts["file"].get_content_type() == "application/pdf"
    assert parts["file"].get_payload(decode=True) == path.read_bytes()
