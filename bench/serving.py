"""What the Python benchmarks share: a free port, and a server started on a
data dir and ready to answer."""
import http.client
import os
import socket
import subprocess
import time


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def mint_key(binary, data_dir):
    return subprocess.run([binary, "mint-key", "--label", "bench", "--data-dir", data_dir],
                          capture_output=True, text=True, check=True).stdout.strip()


def serve(binary, data_dir, port=None):
    """Starts `serve` (logging warnings only); returns (process, port) once
    /health answers."""
    port = port or free_port()
    proc = subprocess.Popen([binary, "serve", "--listen", f"127.0.0.1:{port}", "--data-dir", data_dir],
                            env=dict(os.environ, MOLECULE_LOG="warn"))
    for _ in range(100):
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            c.request("GET", "/health")
            c.getresponse().read()
            return proc, port
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("the server did not start")
