#!/usr/bin/python3
"""quirky.py - an HTTP origin that lies, for the engine's trust tests.

The project's own server (python3 stdlib only), on 127.0.0.1 only.  Every
request path is /MODE/NAME: NAME is a file under --root, MODE picks how the
server misbehaves.  Each mode keeps a per-path request counter, so "the
first answer is cut, the next ones are honest" is expressible.

Modes (A is the file's bytes, B the changed version: A reversed):
  plain/           honest: ETag, Last-Modified, Range with If-Range
  short206/        every GET answers 206 with at most SHORT bytes from the
                   requested start (bytes 0-999/N to a request without Range)
  liar-length/     1st GET: Content-Length N, half the body, connection cut;
                   then honest
  norange/         1st GET cut as liar-length; then Range ignored: 200, all
  badstart/        1st GET cut; Range a- answered 206 "bytes 0-(N-1)/N";
                   GETs without Range are honest
  total-changes/   1st GET cut; Range a- answered 206 with the right start
                   but a total of N+7 (same ETag); GETs without Range honest
  changing-etag/   1st GET: A cut, ETag "a"; then the file is B, ETag "b",
                   If-Range honoured (an old validator gets 200 with B)
  changing-etag-206/ as changing-etag, but If-Range ignored: a Range
                   request gets 206 from B (ETag "b") - a splice if trusted
  changing-noetag/ no ETag, no Last-Modified; 1st GET A cut; then B, Range
                   honoured blindly
  etag-cr/         1st GET cut; the ETag holds a bare CR and a header after
                   it ("a<CR>X-Injected: yes"), sent back verbatim in an
                   If-Range it would split the request line; then honest
  overlong/        206 "bytes 0-(N-1)/N" without Content-Length, then N+5000
                   bytes and the connection closed
  chunked/         honest body in chunked encoding, no Content-Length
  chunked-endless/ chunked, never ends (fills a disk)
  redirect-rel/    302 Location: /plain/NAME (relative)
  redirect-port/   302 to the other port of this server: /plain/NAME
  redirect-loop/   302 to itself
  redirect-file/   302 Location: file:///etc/passwd
  portal/          200 text/html login page, whatever NAME is (captive portal)
  503/             1st GET: 503 with Retry-After: RETRY (seconds); then honest
  404/             404
  trickle/         honest headers, then TRICKLE bytes every 0.5 s (a
                   slowloris origin)
  hang/            reads the request and never answers (the connection
                   stays open until the client leaves)

Every request is logged as one JSON line in --log: seq (arrival order),
mode, name, method, port (the one it came to),
range, if_range, x_auth (the X-Auth header), authorization, status, sent
(body bytes written), t (time.time()).

  python3 quirky.py --port P --alt-port Q --root DIR --log FILE
"""

import argparse
import email.utils
import hashlib
import http.server
import json
import os
import socket
import sys
import threading
import time

SHORT = 1000
RETRY = 3
TRICKLE = 20
PORTAL = (b"<!DOCTYPE html><html><head><title>Wi-Fi login</title></head>"
          b"<body><form method=post action=/login>Accept the terms"
          b"<input type=submit></form></body></html>\n")

_lock = threading.Lock()
_counts = {}
_args = None


def _count(key):
    with _lock:
        _counts[key] = _counts.get(key, 0) + 1
        return _counts[key]


def _etag(data):
    return '"%s"' % hashlib.sha256(data).hexdigest()[:16]


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "quirky/1"

    def log_message(self, fmt, *a):
        pass

    def _log(self, status, sent):
        rec = {"seq": self.seq, "mode": self.mode, "name": self.name,
               "method": self.command,
               "range": self.headers.get("Range", "-"),
               "if_range": self.headers.get("If-Range", "-"),
               "injected": self.headers.get("X-Injected"),
               "x_auth": self.headers.get("X-Auth"),
               "authorization": self.headers.get("Authorization"),
               "port": self.server.server_address[1],
               "status": status, "sent": sent, "t": time.time()}
        with _lock, open(_args.log, "a") as f:
            f.write(json.dumps(rec) + "\n")

    def _range_start(self):
        r = self.headers.get("Range")
        if not r or not r.startswith("bytes=") or "," in r:
            return None
        a = r[6:].split("-", 1)[0]
        return int(a) if a.isdigit() else None

    def _send(self, status, headers, body, cut=False, close=False):
        """Sends the answer; cut: half of body, then the connection;
        close: all of body, then the connection (no Content-Length)."""
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        if cut or close:
            self.send_header("Connection", "close")
        self.end_headers()
        sent = 0
        if self.command != "HEAD":
            part = body[:len(body) // 2] if cut else body
            try:
                self.wfile.write(part)
                self.wfile.flush()
                sent = len(part)
            except OSError:
                pass
        if cut or close:
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._log(status, sent)

    def _honest(self, data, validators=True, etag=None, if_range=True,
                cut=False):
        h = [("Content-Type", "application/octet-stream")]
        tag = etag or _etag(data)
        lm = email.utils.formatdate(self.mtime, usegmt=True)
        if validators:
            h += [("ETag", tag), ("Last-Modified", lm)]
        start = None if cut else self._range_start()
        ir = self.headers.get("If-Range")
        if start is not None and if_range and ir is not None and \
                ir not in (tag, lm):
            start = None            # the remote changed: all of it
        if start is not None and start >= len(data):
            self._send(416, h + [("Content-Range", "bytes */%d" % len(data)),
                                 ("Content-Length", "0")], b"")
            return
        if start is not None:
            body = data[start:]
            h += [("Content-Range", "bytes %d-%d/%d" %
                   (start, len(data) - 1, len(data))),
                  ("Content-Length", str(len(body)))]
            self._send(206, h, body)
            return
        h.append(("Content-Length", str(len(data))))
        self._send(200, h, data, cut=cut)

    def _redirect(self, where):
        self._send(302, [("Location", where), ("Content-Length", "0")], b"")

    def _chunked(self, data, endless=False):
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        sent = 0
        try:
            if endless:
                block = os.urandom(65536)
                while True:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(block), block))
                    sent += len(block)
            for i in range(0, len(data), 4096):
                c = data[i:i + 4096]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(c), c))
                sent += len(c)
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except OSError:
            self.close_connection = True
        self._log(200, sent)

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        parts = self.path.split("?", 1)[0].lstrip("/").split("/", 1)
        self.mode = parts[0]
        self.name = parts[1] if len(parts) > 1 else ""
        n = _count((self.mode, self.name))
        self.seq = _count("all requests")
        data = b""
        self.mtime = time.time()
        path = os.path.join(_args.root, os.path.basename(self.name))
        if self.name and os.path.isfile(path):
            with open(path, "rb") as f:
                data = f.read()
            self.mtime = os.stat(path).st_mtime
        m, first = self.mode, n == 1
        if m in ("404",) or (not data and m not in (
                "portal", "redirect-loop", "redirect-file",
                "chunked-endless")):
            self._send(404, [("Content-Length", "0")], b"")
        elif m == "plain":
            self._honest(data)
        elif m == "short206":
            start = self._range_start() or 0
            body = data[start:start + SHORT]
            self._send(206, [
                ("ETag", _etag(data)),
                ("Content-Range", "bytes %d-%d/%d" %
                 (start, start + len(body) - 1, len(data))),
                ("Content-Length", str(len(body)))], body)
        elif m == "liar-length":
            self._honest(data, cut=first)
        elif m == "norange":
            h = [("ETag", _etag(data)), ("Content-Length", str(len(data)))]
            self._send(200, h, data, cut=first)
        elif m == "badstart":
            if first or self._range_start() is None:
                self._honest(data, cut=first)
            else:
                self._send(206, [
                    ("ETag", _etag(data)),
                    ("Content-Range", "bytes 0-%d/%d" %
                     (len(data) - 1, len(data))),
                    ("Content-Length", str(len(data)))], data)
        elif m == "total-changes":
            start = self._range_start()
            if first or start is None:
                self._honest(data, cut=first)
            else:
                body = data[start:]
                self._send(206, [
                    ("ETag", _etag(data)),
                    ("Content-Range", "bytes %d-%d/%d" %
                     (start, len(data) - 1, len(data) + 7)),
                    ("Content-Length", str(len(body)))], body)
        elif m in ("changing-etag", "changing-etag-206"):
            if first:
                self._honest(data, etag='"a"', cut=True)
            else:
                self._honest(data[::-1], etag='"b"',
                             if_range=m == "changing-etag")
        elif m == "changing-noetag":
            self._honest(data if first else data[::-1], validators=False,
                         if_range=False, cut=first)
        elif m == "etag-cr":
            self._honest(data, etag='"a\rX-Injected: yes"', cut=first)
        elif m == "overlong":
            self._send(206, [("ETag", _etag(data)),
                             ("Content-Range", "bytes 0-%d/%d" %
                              (len(data) - 1, len(data)))],
                       data + b"\0" * 5000, close=True)
        elif m == "chunked":
            self._chunked(data)
        elif m == "chunked-endless":
            self._chunked(b"", endless=True)
        elif m == "redirect-rel":
            self._redirect("/plain/" + self.name)
        elif m == "redirect-port":
            self._redirect("http://127.0.0.1:%d/plain/%s" %
                           (_args.alt_port, self.name))
        elif m == "redirect-loop":
            self._redirect("/redirect-loop/" + self.name)
        elif m == "redirect-file":
            self._redirect("file:///etc/passwd")
        elif m == "trickle":
            self.send_response(200)
            for k, v in (("Content-Length", str(len(data))),
                         ("ETag", _etag(data))):
                self.send_header(k, v)
            self.end_headers()
            sent = 0
            try:
                while sent < len(data) and self.command != "HEAD":
                    self.wfile.write(data[sent:sent + TRICKLE])
                    self.wfile.flush()
                    sent += len(data[sent:sent + TRICKLE])
                    time.sleep(0.5)
            except OSError:
                self.close_connection = True
            self._log(200, sent)
        elif m == "hang":
            self._log(0, 0)
            try:
                while self.connection.recv(4096):
                    pass
            except OSError:
                pass
            self.close_connection = True
        elif m == "portal":
            self._send(200, [("Content-Type", "text/html"),
                             ("Content-Length", str(len(PORTAL)))], PORTAL)
        elif m == "503" and first:
            self._send(503, [("Retry-After", str(RETRY)),
                             ("Content-Length", "0")], b"")
        elif m == "503":
            self._honest(data)
        else:
            self._send(404, [("Content-Length", "0")], b"")


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True


def main():
    global _args
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--alt-port", type=int, required=True)
    p.add_argument("--root", required=True)
    p.add_argument("--log", required=True)
    _args = p.parse_args()
    main_srv = Server(("127.0.0.1", _args.port), Handler)
    alt = Server(("127.0.0.1", _args.alt_port), Handler)
    threading.Thread(target=alt.serve_forever, daemon=True).start()
    main_srv.serve_forever()


if __name__ == "__main__":
    sys.exit(main())


# -- for the tests: start it as tests/servers/servers.py starts the others --

if __name__ != "__main__":
    import servers

    class Quirky(servers._Server):
        """quirky.py as a child of the test, stopped by its PID."""

        def __init__(self, workdir, root, port=None):
            self.workdir = workdir
            self.root = root
            self._auto_port = port is None
            self.port = port or servers.free_port()
            self.logfile = os.path.join(workdir, "quirky.log")

        def _start(self):
            self.alt_port = servers.free_port()
            self._spawn([sys.executable, os.path.abspath(__file__),
                         "--port", str(self.port),
                         "--alt-port", str(self.alt_port),
                         "--root", self.root, "--log", self.logfile],
                        "quirky.out")

        def url(self, mode, name="f.bin"):
            return "http://127.0.0.1:%d/%s/%s" % (self.port, mode, name)

        def _read(self):
            if not os.path.exists(self.logfile):
                return []
            with open(self.logfile) as f:
                return [json.loads(line) for line in f if line.strip()]

        def log(self, mode=None):
            """The requests served.  A request is logged once its answer
            is written, which may be just after the client saw the end of
            it: read until the log holds still for 0.5 s."""
            recs, deadline = self._read(), time.monotonic() + 5
            while time.monotonic() < deadline:
                time.sleep(0.5)
                again = self._read()
                if again == recs:
                    break
                recs = again
            # In the order the requests came: an answer the client gave up
            # on may be logged after a later one.
            recs.sort(key=lambda r: r["seq"])
            return [r for r in recs if mode is None or r["mode"] == mode]
