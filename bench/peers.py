"""The peers our PDFs are measured beside, on the same HTML: bare WeasyPrint and Chromium.

* **Bare WeasyPrint**: stock WeasyPrint 70 (our ``/ActualText`` and pydyf patches taken
  out), one ``FontConfiguration`` and the parsed stylesheets reused, no PDF/A, no tags,
  no metadata, pydyf's own zlib level 9 (ours: 6): the least any WeasyPrint app can do
  with our HTML. In one bench process its workers fork from the same server as ours.
* **Chromium**: a warm headless ``/usr/bin/chromium`` (never downloaded) printing each
  page with ``Page.printToPDF`` over the DevTools protocol; each document is a file
  next to the design so it loads the same CSS and fonts. CPU and memory are those of
  the whole browser process tree.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"

# --- Bare WeasyPrint -------------------------------------------------------------------

_bare = None


def _bare_init(stylesheet: str, worker: bool = True, options: dict | None = None) -> None:
    """*options* go to WeasyPrint's ``render`` and ``write_pdf`` (e.g. ``pdf_variant``)."""
    global _bare
    from weasyprint import CSS
    from weasyprint.text.fonts import FontConfiguration

    from ceroc_donations.rendering.fonts import FONT_FILES
    from ceroc_donations.rendering.letter import LETTERS_DIR
    from ceroc_donations.rendering.pdf import PATCHES, font_face_css

    if worker:  # stock WeasyPrint and pydyf: none of our patches
        for patch in PATCHES:
            patch.uninstall()
    config = FontConfiguration()
    css = [CSS(string=font_face_css(FONT_FILES), font_config=config),
           CSS(filename=str(Path(LETTERS_DIR) / stylesheet), font_config=config)]  # fmt: skip
    _bare = (config, css, str(LETTERS_DIR) + "/", dict(options or {}))


def bare_pdf(html: str) -> bytes:
    """Stock WeasyPrint's PDF of *html* (call :func:`_bare_init` first in this process)."""
    from weasyprint import HTML

    from ceroc_donations.rendering.pdf import PATCHES

    config, css, base_url, options = _bare
    patched = [patch for patch in PATCHES if patch.installed()]
    for patch in patched:  # the same process also renders ours: out meanwhile
        patch.uninstall()
    try:
        document = HTML(string=html, base_url=base_url).render(
            stylesheets=css, font_config=config, **options
        )
        return document.write_pdf(**options)  # fmt: skip
    finally:
        for patch in patched:
            patch.install()


def _bare_job(html: str) -> int:
    return len(bare_pdf(html))


class BareWeasyPrint:
    """Bare WeasyPrint in this process (``workers=0``) or in a pool of worker processes."""

    def __init__(self, stylesheet: str = "letter.css", workers: int = 0, **options):
        """*options*: WeasyPrint's own, e.g. ``pdf_variant="pdf/a-3a"`` for the same kind
        of file as ours (by stock WeasyPrint: without our patches)."""
        self.workers = workers
        if workers:
            self.pool = ProcessPoolExecutor(
                workers, mp_context=get_context("forkserver"),
                initializer=_bare_init, initargs=(stylesheet, True, options),
            )  # fmt: skip
        else:
            self.pool = None
            _bare_init(stylesheet, worker=False, options=options)

    def pdf(self, html: str) -> bytes:
        return bare_pdf(html)

    def batch(self, htmls: list[str]) -> int:
        """Render every document; the number rendered."""
        return sum(1 for _ in self.pool.map(_bare_job, htmls, chunksize=4))

    def pids(self) -> list[int]:
        """The pool's worker processes."""
        return list(self.pool._processes) if self.pool else [os.getpid()]  # noqa: SLF001

    def close(self) -> None:
        if self.pool:
            self.pool.shutdown()


# --- CPU and memory of processes, from /proc -------------------------------------------


def cpu_by_pid(pids) -> dict[int, float]:
    """CPU time (user + system) used so far by each of the processes *pids* still alive."""
    ticks = os.sysconf("SC_CLK_TCK")
    out = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[pid] = (int(fields[11]) + int(fields[12])) / ticks
    return out


def cpu_seconds(pids) -> float:
    """CPU time (user + system) used so far by the processes *pids* (gone ones count 0)."""
    return sum(cpu_by_pid(pids).values())


def cpu_since(before: dict[int, float], pids) -> float:
    """CPU the processes *pids* used since *before* (:func:`cpu_by_pid`); a process started
    since counts whole."""
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in cpu_by_pid(pids).items())


def pss_kib(pids) -> int:
    """Proportional memory of the processes *pids* in KiB: each shared page counted once
    in all (split between its sharers), unlike their RSS, which counts it in each."""
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total


def parent_of(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except OSError:
        return None


def rss_kib(pids, field: str = "VmRSS") -> int:
    """Resident memory of the processes *pids* now (``VmHWM``: their peaks), in KiB."""
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith(field + ":"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total


# --- Chromium over the DevTools protocol ----------------------------------------------


def chromium_html(html: str, stylesheet: str) -> str:
    """*html* with what LetterRenderer adds to WeasyPrint: the fonts and the design's CSS."""
    from ceroc_donations.rendering.fonts import FONT_FACES, FONT_FILES

    # rendering.pdf.font_face_css's rules, without loading WeasyPrint into this process
    # (which would count against ours when the same process runs our batches).
    faces = "\n".join(
        f'@font-face {{ font-family: "{family}"; font-weight: {weight}; font-style: normal; '
        f'src: url("{FONT_FILES[key].as_uri()}") format("truetype"); }}'
        for family, weight, key in FONT_FACES
    )
    head = f'<style>{faces}</style><link rel="stylesheet" href="{stylesheet}">'
    return re.sub("(<head[^>]*>)", lambda m: m.group(1) + head, html, count=1)


class Chromium:
    """One warm headless Chromium with one tab, printing HTML files to PDF."""

    def __init__(self, letters_dir: Path | str, stylesheet: str = "letter.css"):
        import websocket  # websocket-client, installed with selenium

        self.stylesheet = stylesheet
        self.letters_dir = Path(letters_dir)
        self.profile = tempfile.mkdtemp(prefix="bench-chromium-")
        self.process = subprocess.Popen(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-extensions", "--allow-file-access-from-files",
             "--remote-debugging-port=0", f"--user-data-dir={self.profile}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        port = None
        for line in self.process.stderr:
            match = re.search(r"DevTools listening on ws://[^:]+:(\d+)/", line)
            if match:
                port = match.group(1)
                break
        if port is None:
            raise RuntimeError("Chromium did not start its DevTools server")
        threading.Thread(target=self.process.stderr.read, daemon=True).start()
        request = urllib.request.Request(f"http://127.0.0.1:{port}/json/new?about:blank",
                                         method="PUT")  # fmt: skip
        with urllib.request.urlopen(request) as response:
            target = json.load(response)
        self.socket = websocket.create_connection(target["webSocketDebuggerUrl"], timeout=120)
        self.next_id = 0
        self.seen: set[str] = set()
        self.send("Page.enable")
        self.counter = 0

    def send(self, method: str, **params):
        self.next_id += 1
        self.socket.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv())
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message["result"]
            if "method" in message:
                self.seen.add(message["method"])

    def wait_event(self, name: str) -> None:
        while name not in self.seen:
            message = json.loads(self.socket.recv())
            if "method" in message:
                self.seen.add(message["method"])
        self.seen.discard(name)

    def pdf(self, html: str) -> bytes:
        """The PDF Chromium prints for *html* (the design's page size and margins)."""
        self.counter += 1
        path = self.letters_dir / f".bench-chromium-{os.getpid()}-{id(self)}.html"
        path.write_text(chromium_html(html, self.stylesheet), encoding="utf-8")
        try:
            self.seen.discard("Page.loadEventFired")
            self.send("Page.navigate", url=path.as_uri())
            self.wait_event("Page.loadEventFired")
            self.send("Runtime.evaluate", expression="document.fonts.ready.then(() => 1)",
                      awaitPromise=True)  # fmt: skip
            result = self.send("Page.printToPDF", preferCSSPageSize=True, printBackground=True)
        finally:
            path.unlink(missing_ok=True)
        return base64.b64decode(result["data"])

    def tree(self) -> list[int]:
        """Process ids of the browser and all its children."""
        pids, queue = [], [self.process.pid]
        while queue:
            pid = queue.pop()
            pids.append(pid)
            for task in Path(f"/proc/{pid}/task").glob("*"):
                children = (task / "children").read_text().split()
                queue.extend(int(child) for child in children)
        return pids

    def cpu_seconds(self) -> float:
        """CPU time (user + system) used so far by the browser's process tree."""
        return cpu_seconds(self.tree())

    def rss_kib(self) -> int:
        """Resident memory of the browser's process tree now, in KiB."""
        return rss_kib(self.tree())

    def pss_kib(self) -> int:
        """Proportional memory of the browser's process tree now, in KiB."""
        return pss_kib(self.tree())

    def close(self) -> None:
        try:
            self.socket.close()
        finally:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
            shutil.rmtree(self.profile, ignore_errors=True)


def chromium_batch(
    htmls: list[str], letters_dir, stylesheet: str, workers: int = 2, stats: dict | None = None
) -> float:
    """Seconds for *workers* warm Chromiums (one per thread) to print every document.

    *stats*, if given, receives ``cpu`` (the browsers' CPU seconds for the batch) and
    ``rss_kib`` and ``pss_kib`` (their process trees' memory at the end)."""
    browsers = [Chromium(letters_dir, stylesheet) for _ in range(workers)]
    try:
        for browser in browsers:
            browser.pdf(htmls[0])  # warm: fonts and CSS loaded
        shares = [htmls[i::workers] for i in range(workers)]
        cpu0 = sum(browser.cpu_seconds() for browser in browsers)
        started = time.perf_counter()
        threads = [threading.Thread(target=lambda b=b, s=s: [b.pdf(h) for h in s])
                   for b, s in zip(browsers, shares, strict=True)]  # fmt: skip
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - started
        if stats is not None:
            stats["cpu"] = sum(browser.cpu_seconds() for browser in browsers) - cpu0
            stats["rss_kib"] = sum(browser.rss_kib() for browser in browsers)
            stats["pss_kib"] = sum(browser.pss_kib() for browser in browsers)
        return elapsed
    finally:
        for browser in browsers:
            browser.close()
