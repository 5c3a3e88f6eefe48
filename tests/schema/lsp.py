#!/usr/bin/python3
"""A minimal Language Server Protocol client for yaml-language-server.

Used by lsp_check.py: starts the real server (npm yaml-language-server,
from packaging/npm-packages.txt) over stdio, opens documents and collects
what an editor would show: diagnostics and completions.
"""

import json
import os
import pathlib
import queue
import subprocess
import threading
import time


def server_command():
    prefix = os.environ.get("BITSYNC_NODE_PREFIX", "/opt/bitsync-node")
    js = os.path.join(prefix, "node_modules", "yaml-language-server", "bin",
                      "yaml-language-server")
    if not os.path.exists(js):
        raise FileNotFoundError(
            f"{js} not found; run packaging/deps.sh (npm-packages.txt)")
    return ["node", js, "--stdio"]


class Client:
    def __init__(self, settings=None):
        self.proc = subprocess.Popen(server_command(), stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        self.next_id = 0
        self.responses = {}
        self.diags = {}           # uri -> list of diagnostics (latest)
        self.diag_versions = {}   # uri -> how many publishes seen
        self.cond = threading.Condition()
        self.settings = settings or {}
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        self.errlog = []
        threading.Thread(target=self._stderr, daemon=True).start()
        root = pathlib.Path.cwd().as_uri()
        self.request("initialize", {
            "processId": os.getpid(), "rootUri": root,
            "capabilities": {
                "workspace": {"configuration": True,
                              "didChangeConfiguration": {"dynamicRegistration": True}},
                "textDocument": {
                    "completion": {"completionItem": {"snippetSupport": True,
                                                      "documentationFormat": ["markdown", "plaintext"]}},
                    "hover": {"contentFormat": ["markdown", "plaintext"]},
                    "publishDiagnostics": {}},
            }})
        self.notify("initialized", {})
        self.notify("workspace/didChangeConfiguration",
                    {"settings": {"yaml": self._yaml_settings()}})

    def _yaml_settings(self):
        s = {"validate": True, "completion": True, "hover": True,
             "schemaStore": {"enable": False}, "format": {"enable": False}}
        s.update(self.settings)
        return s

    # -- wire -------------------------------------------------------------
    def _send(self, msg):
        body = json.dumps(msg).encode()
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.proc.stdin.flush()

    def _stderr(self):
        for line in self.proc.stderr:
            self.errlog.append(line.decode(errors="replace"))

    def _read(self):
        f = self.proc.stdout
        while True:
            length = None
            while True:
                line = f.readline()
                if not line:
                    return
                line = line.strip()
                if not line:
                    break
                k, _, v = line.decode().partition(":")
                if k.lower() == "content-length":
                    length = int(v)
            msg = json.loads(f.read(length))
            self._handle(msg)

    def _handle(self, msg):
        if "method" in msg and "id" in msg:      # a request from the server
            m = msg["method"]
            if m == "workspace/configuration":
                items = msg["params"].get("items", [])
                result = [self._yaml_settings() if i.get("section") == "yaml"
                          else None for i in items]
            else:                                 # registerCapability etc.
                result = None
            self._send({"jsonrpc": "2.0", "id": msg["id"], "result": result})
            return
        with self.cond:
            if "id" in msg:
                self.responses[msg["id"]] = msg
            elif msg.get("method") == "textDocument/publishDiagnostics":
                uri = msg["params"]["uri"]
                self.diags[uri] = msg["params"]["diagnostics"]
                self.diag_versions[uri] = self.diag_versions.get(uri, 0) + 1
            self.cond.notify_all()

    def notify(self, method, params):
        self._send({"jsonrpc": "2.0", "method": method, "params": params})

    def request(self, method, params, timeout=30):
        self.next_id += 1
        rid = self.next_id
        self._send({"jsonrpc": "2.0", "id": rid, "method": method, "params": params})
        with self.cond:
            if not self.cond.wait_for(lambda: rid in self.responses, timeout):
                raise TimeoutError(f"{method}: no answer in {timeout} s; "
                                   f"server stderr: {''.join(self.errlog)[-2000:]}")
            msg = self.responses.pop(rid)
        if "error" in msg:
            raise RuntimeError(f"{method}: {msg['error']}")
        return msg.get("result")

    # -- documents ----------------------------------------------------------
    def open(self, path, text=None):
        """Opens PATH (its text, or TEXT as if it were PATH's) and returns
        the diagnostics the server publishes for it."""
        uri = pathlib.Path(path).resolve().as_uri()
        if text is None:
            text = pathlib.Path(path).read_text()
        with self.cond:
            seen = self.diag_versions.get(uri, 0)
        self.notify("textDocument/didOpen", {"textDocument": {
            "uri": uri, "languageId": "yaml", "version": 1, "text": text}})
        with self.cond:
            if not self.cond.wait_for(
                    lambda: self.diag_versions.get(uri, 0) > seen, 30):
                raise TimeoutError(f"no diagnostics for {path} in 30 s")
            d = self.diags[uri]
        return uri, d

    def close(self, uri):
        self.notify("textDocument/didClose", {"textDocument": {"uri": uri}})

    def completion(self, uri, line, character):
        r = self.request("textDocument/completion", {
            "textDocument": {"uri": uri},
            "position": {"line": line, "character": character}})
        if isinstance(r, dict):
            r = r.get("items", [])
        return r or []

    def shutdown(self):
        try:
            self.request("shutdown", None, timeout=10)
            self.notify("exit", None)
            self.proc.wait(timeout=10)
        except Exception:
            self.proc.kill()
            self.proc.wait()
