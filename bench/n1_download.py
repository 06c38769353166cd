"""N1: download 256 MiB from a loopback server to disk, validated, against curl.

The payload is a RIFF/WAVE header followed by 256 MiB of data, written once to a
temp file and served by a tiny HTTP server in its own process that streams the
file with sendfile (so neither side holds it in memory and the server is never
the bottleneck). Ours runs ``studio.net.download.download`` in a child process
that reports its own time for the call and its RSS growth: the peak RSS during
the download (VmHWM, reset just before) minus the RSS right before it. The peer
is ``curl -s -o file URL``, timed by curl itself (``%{time_total}``) so neither
side pays for its process start. Downloaded files are deleted between runs.

Set ``N1_PROFILE=1`` to print a cProfile of one extra download by ours instead.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

TARGET = 1.5
RSS_TARGET_MB = 32.0
RUNS = 5
PAYLOAD = 256 * 1024 * 1024
REPO = Path(__file__).resolve().parent.parent

# Serves the one file at any path, streamed with sendfile; one thread per connection.
SERVER = r"""
import email.utils, http.server, os, sys
path = sys.argv[1]
class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        st = os.stat(path)
        self.send_response(200)
        self.send_header("Content-Type", "audio/wav")
        self.send_header("Content-Length", str(st.st_size))
        self.send_header("Last-Modified", email.utils.formatdate(st.st_mtime, usegmt=True))
        self.send_header("ETag", '"%x-%x"' % (st.st_mtime_ns, st.st_size))
        self.end_headers()
        with open(path, "rb") as source:
            self.connection.sendfile(source)
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
"""

# Ours: one download() call on a plain asyncio loop, as the app makes it.
CHILD = r"""
import asyncio, json, os, sys, time
from pathlib import Path
from studio.net.client import make_download_client
from studio.net.download import download

def status_kb(field):
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(field)

async def main(url, dest, profile):
    async with make_download_client() as client:
        try:  # reset VmHWM so the peak is the download's own
            with open("/proc/self/clear_refs", "w") as refs:
                refs.write("5")
        except OSError:
            pass
        base = status_kb("VmRSS")
        started = time.perf_counter()
        if profile:
            import cProfile, pstats
            prof = cProfile.Profile()
            prof.enable()
        result = await download(client, url, Path(dest), expected_kinds={"audio"},
                                max_bytes=1 << 30)
        elapsed = time.perf_counter() - started
        if profile:
            prof.disable()
            pstats.Stats(prof, stream=sys.stderr).sort_stats("tottime").print_stats(25)
    peak = status_kb("VmHWM")
    assert result.detected == "WAV", result.detected
    print(json.dumps({"seconds": elapsed, "base_kb": base, "peak_kb": peak,
                      "size": result.size}))

asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3] == "1"))
"""


def make_payload(path: Path) -> None:
    """Write a 44-byte PCM WAV header (16-bit stereo 44.1 kHz) and 256 MiB of samples."""
    rate, channels, bits = 44100, 2, 16
    block = channels * bits // 8
    header = (
        b"RIFF"
        + (36 + PAYLOAD).to_bytes(4, "little")
        + b"WAVEfmt "
        + (16).to_bytes(4, "little")
        + (1).to_bytes(2, "little")
        + channels.to_bytes(2, "little")
        + rate.to_bytes(4, "little")
        + (rate * block).to_bytes(4, "little")
        + block.to_bytes(2, "little")
        + bits.to_bytes(2, "little")
        + b"data"
        + PAYLOAD.to_bytes(4, "little")
    )
    chunk = os.urandom(1024 * 1024)
    with path.open("wb") as out:
        out.write(header)
        for _ in range(PAYLOAD // len(chunk)):
            out.write(chunk)


def run_ours(url: str, dest: Path, profile: bool = False) -> dict[str, float]:
    child = subprocess.run(
        [sys.executable, "-c", CHILD, url, str(dest), "1" if profile else "0"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    if child.returncode != 0:
        raise RuntimeError(f"N1 ours child failed: {child.stderr[-2000:]}")
    if profile:
        print(child.stderr, file=sys.stderr)
    report: dict[str, float] = json.loads(child.stdout.strip().splitlines()[-1])
    dest.unlink()
    return report


def run_peer(curl: str, url: str, dest: Path) -> float:
    child = subprocess.run(
        [curl, "-s", "-o", str(dest), "-w", "%{time_total}", url],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if child.returncode != 0 or dest.stat().st_size != PAYLOAD + 44:
        raise RuntimeError(f"N1 curl failed ({child.returncode}): {child.stderr[-2000:]}")
    dest.unlink()
    return float(child.stdout.strip())


def main() -> int:
    curl = shutil.which("curl")
    if curl is None:
        print(f"N1  -  -  -  <={TARGET}  MISS (curl is not installed)")
        return 1
    tmp = Path(tempfile.mkdtemp(prefix="studio-n1-"))
    server = None
    try:
        source = tmp / "payload.wav"
        make_payload(source)
        server = subprocess.Popen(
            [sys.executable, "-c", SERVER, str(source)], stdout=subprocess.PIPE, text=True
        )
        assert server.stdout is not None
        url = f"http://127.0.0.1:{server.stdout.readline().strip()}/payload.wav"
        ours_dest, peer_dest = tmp / "ours.wav", tmp / "peer.wav"

        if os.environ.get("N1_PROFILE"):
            run_ours(url, ours_dest, profile=True)
            return 0

        run_ours(url, ours_dest)  # warm-up: page cache, imports
        run_peer(curl, url, peer_dest)
        reports, peers = [], []
        for _ in range(RUNS):  # interleaved, so drift on a shared machine hits both
            reports.append(run_ours(url, ours_dest))
            peers.append(run_peer(curl, url, peer_dest))
        ours = statistics.median(r["seconds"] for r in reports)
        peer = statistics.median(peers)
        growth = statistics.median((r["peak_kb"] - r["base_kb"]) / 1024 for r in reports)
        ratio = ours / peer
        verdict = "PASS" if ratio <= TARGET else "MISS"
        rss_verdict = "PASS" if growth <= RSS_TARGET_MB else "MISS"
        print(f"N1  {ours:.2f}s  {peer:.2f}s  {ratio:.2f}  <={TARGET}  {verdict}")
        print(f"N1-RSS  {growth:.1f}MB  -  -  <={RSS_TARGET_MB:.0f}MB  {rss_verdict}")
        return 0
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=10)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
