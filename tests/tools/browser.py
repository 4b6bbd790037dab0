#!/usr/bin/env python3
"""tests/tools/browser.py: drives headless Chromium through the DevTools
protocol (a WebSocket on loopback), for the status page's browser test and
its screenshots.  Standard library only.

    browser.py [--shots DIR] STEP...

Steps run in order; the first that fails ends the script with exit 1:
    open URL            load URL and wait for the page's load event
    click SELECTOR      click the element (in a form or a link: waits for the load)
    wait JS [SECONDS]   reload-free poll until the expression is truthy (10 s)
    print JS            print the expression's value as JSON
    shot NAME           save DIR/NAME.png (the whole page)
"""
import base64
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request


class WebSocket:
    """The client side of RFC 6455, as much as DevTools needs."""

    def __init__(self, url):
        hostport, path = url[len("ws://"):].split("/", 1)
        host, port = hostport.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=30)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(("GET /%s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\n"
                           "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                           "Sec-WebSocket-Version: 13\r\n\r\n" % (path, hostport, key)).encode())
        head = b""
        while not head.endswith(b"\r\n\r\n"):
            c = self.sock.recv(1)
            if not c:
                raise IOError("websocket handshake: connection closed")
            head += c
        if b" 101 " not in head.split(b"\r\n", 1)[0]:
            raise IOError("websocket handshake refused: %r" % head[:80])

    def send(self, text):
        data = text.encode()
        mask = os.urandom(4)
        n = len(data)
        if n < 126:
            hdr = struct.pack("!BB", 0x81, 0x80 | n)
        elif n < 65536:
            hdr = struct.pack("!BBH", 0x81, 0x80 | 126, n)
        else:
            hdr = struct.pack("!BBQ", 0x81, 0x80 | 127, n)
        self.sock.sendall(hdr + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))

    def _read(self, n):
        out = b""
        while len(out) < n:
            c = self.sock.recv(n - len(out))
            if not c:
                raise IOError("websocket closed")
            out += c
        return out

    def recv(self):
        msg = b""
        while True:
            b0, b1 = self._read(2)
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack("!H", self._read(2))[0]
            elif n == 127:
                n = struct.unpack("!Q", self._read(8))[0]
            mask = self._read(4) if b1 & 0x80 else None
            data = self._read(n)
            if mask:
                data = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
            op = b0 & 0x0F
            if op == 0x9:  # ping
                continue
            if op == 0x8:
                raise IOError("websocket closed by the browser")
            msg += data
            if b0 & 0x80:
                return msg.decode()


class Browser:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="sailsync-chromium.")
        exe = shutil.which("chromium") or shutil.which("chromium-browser")
        if exe is None:
            raise SystemExit("browser.py: chromium is not installed")
        self.proc = subprocess.Popen(
            [exe, "--headless=new", "--no-sandbox", "--disable-gpu",
             "--disable-dev-shm-usage", "--no-first-run", "--no-default-browser-check",
             "--disable-extensions", "--disable-background-networking",
             "--user-data-dir=" + self.dir, "--remote-debugging-address=127.0.0.1",
             "--remote-debugging-port=0", "--window-size=1200,900", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.time() + 60
        ws = None
        while time.time() < deadline:
            line = self.proc.stderr.readline().decode(errors="replace")
            if not line and self.proc.poll() is not None:
                raise SystemExit("browser.py: chromium exited %s" % self.proc.returncode)
            if line.startswith("DevTools listening on "):
                ws = line.split(" on ", 1)[1].strip()
                break
        if ws is None:
            raise SystemExit("browser.py: chromium did not start")
        port = ws.split("://", 1)[1].split("/", 1)[0]
        pages = []
        for _ in range(50):
            with urllib.request.urlopen("http://%s/json/list" % port) as r:
                pages = [p for p in json.load(r) if p.get("type") == "page"]
            if pages:
                break
            time.sleep(0.1)
        self.ws = WebSocket(pages[0]["webSocketDebuggerUrl"])
        self.next_id = 0
        self.events = []
        self.call("Page.enable")
        self.call("Runtime.enable")

    def call(self, method, **params):
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            m = json.loads(self.ws.recv())
            if m.get("id") == self.next_id:
                if "error" in m:
                    raise RuntimeError("%s: %s" % (method, m["error"]))
                return m.get("result", {})
            self.events.append(m.get("method"))

    def wait_event(self, name, seconds=20):
        deadline = time.time() + seconds
        self.ws.sock.settimeout(seconds)
        while time.time() < deadline:
            if name in self.events:
                self.events.remove(name)
                return
            m = json.loads(self.ws.recv())
            self.events.append(m.get("method"))
        raise RuntimeError("no %s within %d s" % (name, seconds))

    def eval(self, js):
        r = self.call("Runtime.evaluate", expression=js, returnByValue=True,
                      awaitPromise=True)
        if "exceptionDetails" in r:
            raise RuntimeError("%s: %s" % (js, r["exceptionDetails"].get("text")))
        return r.get("result", {}).get("value")

    def close(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


def main(argv):
    shots = "."
    if argv[:1] == ["--shots"]:
        shots = argv[1]
        argv = argv[2:]
    b = Browser()
    try:
        i = 0
        while i < len(argv):
            step = argv[i]
            if step == "open":
                b.events.clear()
                b.call("Page.navigate", url=argv[i + 1])
                b.wait_event("Page.loadEventFired")
                i += 2
            elif step == "click":
                b.events.clear()
                sel = json.dumps(argv[i + 1])
                # A form button or a link loads a page: wait for it.
                r = b.eval("(() => { const e = document.querySelector(%s);"
                           " if (!e) return 'none'; const nav = !!(e.closest('form') ||"
                           " e.closest('a')); e.click(); return nav ? 'nav' : 'stay'; })()"
                           % sel)
                if r == "none":
                    raise RuntimeError("click: nothing matches %s" % argv[i + 1])
                if r == "nav":
                    b.wait_event("Page.loadEventFired")
                i += 2
            elif step == "wait":
                js = argv[i + 1]
                secs = 10
                i += 2
                if i < len(argv) and argv[i].replace(".", "", 1).isdigit():
                    secs = float(argv[i])
                    i += 1
                deadline = time.time() + secs
                while not b.eval(js):
                    if time.time() > deadline:
                        raise RuntimeError("wait: %s is still false after %s s" % (js, secs))
                    time.sleep(0.2)
            elif step == "print":
                print(json.dumps(b.eval(argv[i + 1])))
                i += 2
            elif step == "shot":
                metrics = b.call("Page.getLayoutMetrics")
                size = metrics.get("cssContentSize") or metrics.get("contentSize")
                png = b.call("Page.captureScreenshot", format="png",
                             captureBeyondViewport=True,
                             clip={"x": 0, "y": 0, "width": size["width"],
                                   "height": size["height"], "scale": 1})
                path = os.path.join(shots, argv[i + 1] + ".png")
                with open(path, "wb") as f:
                    f.write(base64.b64decode(png["data"]))
                print("screenshot " + path)
                i += 2
            else:
                raise SystemExit("browser.py: unknown step %s" % step)
    except (RuntimeError, IOError, KeyError) as e:
        print("browser.py: %s" % e, file=sys.stderr)
        return 1
    finally:
        b.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
