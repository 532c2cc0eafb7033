"""A TCP proxy that can go silent, for one process's connections: it
forwards both ways until silence(), then reads nothing, answers nothing,
accepts nothing new (the kernel still completes handshakes into the backlog)
and closes nothing, like a NAT or a proxy that lost the server without
telling either side (the Python twin of tests/support/tcp_proxy.hpp).

Unlike a downed link, a silent proxy defeats TCP keepalives and
`tcp_user_timeout` on the client's side: the proxy's own kernel acknowledges
every probe and every byte until its buffers fill. Only the client's own
deadline can end a wait on it, which is the point (issue #31, case 1).
The server's side sees an idle session and ends it by its own timeouts.

mend() resumes forwarding on the same sockets (a link that came back)."""

import selectors
import socket
import threading
import time


class SilentProxy:
    def __init__(self, upstream_host, upstream_port):
        self.upstream = (upstream_host, int(upstream_port))
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.silent = threading.Event()
        self.stopping = threading.Event()
        self.silenced_at = None       # wall time of the last silence()
        self.lock = threading.Lock()
        self.sockets = []
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def url(self, database):
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def silence(self):
        self.silenced_at = time.time()
        self.silent.set()

    def mend(self):
        self.silent.clear()

    def close(self):
        self.stopping.set()
        self.thread.join(timeout=5)
        with self.lock:
            for s in self.sockets:
                try:
                    s.close()
                except OSError:
                    pass
        self.listener.close()

    # One thread, one selector: a round's proxy carries a handful of
    # connections (a leader and its monitor, or one replica's beats).
    def _loop(self):
        sel = selectors.DefaultSelector()
        sel.register(self.listener, selectors.EVENT_READ, None)
        while not self.stopping.is_set():
            if self.silent.is_set():
                time.sleep(0.02)
                continue
            for key, _ in sel.select(timeout=0.05):
                if self.silent.is_set():
                    break
                if key.data is None:
                    self._accept(sel)
                else:
                    self._pump(sel, key.fileobj, key.data)
        sel.close()

    def _accept(self, sel):
        try:
            client, _ = self.listener.accept()
        except OSError:
            return
        try:
            server = socket.create_connection(self.upstream, timeout=5)
        except OSError:
            client.close()
            return
        for s in (client, server):
            s.setblocking(False)
        with self.lock:
            self.sockets += [client, server]
        sel.register(client, selectors.EVENT_READ, server)
        sel.register(server, selectors.EVENT_READ, client)

    def _pump(self, sel, src, dst):
        try:
            data = src.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if data:
            try:
                dst.setblocking(True)
                dst.settimeout(5)
                dst.sendall(data)
                dst.setblocking(False)
                return
            except OSError:
                pass
        # One side closed: close both (a proxy that is working passes it on).
        for s in (src, dst):
            try:
                sel.unregister(s)
            except (KeyError, ValueError):
                pass
            try:
                s.close()
            except OSError:
                pass
