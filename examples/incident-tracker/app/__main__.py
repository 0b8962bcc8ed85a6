"""Serves a health check and an in-memory incident list on $PORT (default 8080)."""

import json
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import incident_severity

INCIDENTS = []


class Handler(BaseHTTPRequestHandler):
    def _send(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/healthz":
            self._send(200, {"status": "ok", "uid": os.getuid()})
        elif self.path == "/incidents":
            self._send(200, INCIDENTS)
        else:
            self._send(404, {"error": "not found"})

    def do_POST(self):
        if self.path != "/incidents":
            self._send(404, {"error": "not found"})
            return
        length = int(self.headers.get("Content-Length", "0"))
        try:
            incident = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            self._send(400, {"error": "body is not JSON"})
            return
        try:
            incident["priority"] = incident_severity.score(
                int(incident.get("impact", 3)), int(incident.get("urgency", 3))
            )
        except (TypeError, ValueError) as err:
            self._send(400, {"error": str(err)})
            return
        incident["id"] = len(INCIDENTS) + 1
        INCIDENTS.append(incident)
        self._send(201, incident)


def main():
    port = int(os.environ.get("PORT", "8080"))
    ThreadingHTTPServer(("0.0.0.0", port), Handler).serve_forever()


if __name__ == "__main__":
    main()
