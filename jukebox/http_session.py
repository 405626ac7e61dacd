"""Polite HTTP for the scrapers: one session with retries, timeouts, robots.txt and a pause between requests to a host."""
from __future__ import annotations

import time
from dataclasses import dataclass
from urllib.parse import urlsplit
from urllib.robotparser import RobotFileParser

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

# Where a site owner reads what this robot is; point it at the project's published home page.
HOMEPAGE = "https://github.com/ai-jukebox/ai-jukebox"
USER_AGENT = f"ai-jukebox/0.1 (MIDI style-learning research pipeline; +{HOMEPAGE})"
# After this many network failures in a row, a host is treated as down rather than retried file after file.
MAX_CONSECUTIVE_FAILURES = 5


class FetchError(Exception):
    """A URL could not be fetched; `reason` says why in a few words."""

    def __init__(self, url: str, reason: str):
        super().__init__(f"{url}: {reason}")
        self.url, self.reason = url, reason


class Disallowed(FetchError):
    """robots.txt asks robots not to fetch this URL."""


class TooLarge(FetchError):
    """The response is bigger than the size cap."""


class SiteUnreachable(FetchError):
    """The host does not answer at all (no robots.txt, or failure after failure)."""


@dataclass(frozen=True)
class Response:
    """A fetched body with the little the scrapers need from its headers."""

    url: str
    status: int
    body: bytes
    content_type: str = ""
    content_disposition: str = ""


def _network_reason(exc: requests.RequestException) -> str:
    """The innermost cause of a requests error, short enough for a manifest line."""
    cause = exc.args[0] if exc.args else exc
    cause = getattr(cause, "reason", cause)  # urllib3's MaxRetryError wraps the real one
    kind = "timed out" if isinstance(exc, requests.Timeout) or "timed out" in str(cause).lower() else "network error"
    return f"{kind} after retries ({type(cause).__name__})"


class PoliteSession:
    """One requests session: retries with backoff, honours Retry-After, obeys robots.txt, waits between requests."""

    def __init__(self, delay: float = 1.0, retries: int = 4, backoff: float = 1.0,
                 timeout: tuple[float, float] = (10.0, 30.0), max_retry_after: int = 120,
                 user_agent: str = USER_AGENT):
        self.delay, self.timeout, self.user_agent = delay, timeout, user_agent
        retry = Retry(total=retries, connect=retries, read=retries, status=retries, other=0,
                      backoff_factor=backoff, status_forcelist=(429, 500, 502, 503, 504),
                      allowed_methods=frozenset({"GET", "HEAD"}), respect_retry_after_header=True,
                      retry_after_max=max_retry_after, raise_on_status=False)
        self.session = requests.Session()
        self.session.headers["User-Agent"] = user_agent
        adapter = HTTPAdapter(max_retries=retry)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self._last: dict[str, float] = {}
        self._robots: dict[str, RobotFileParser] = {}
        self._failures: dict[str, int] = {}
        self.requests = 0

    def _wait(self, host: str) -> None:
        crawl_delay = self._robots[host].crawl_delay(self.user_agent) if host in self._robots else None
        pause = max(self.delay, float(crawl_delay or 0))
        wait = self._last.get(host, float("-inf")) + pause - time.monotonic()
        if wait > 0:
            time.sleep(wait)

    def _get(self, url: str, max_bytes: int | None) -> Response:
        host = urlsplit(url).netloc
        self._wait(host)
        self.requests += 1
        try:
            with self.session.get(url, timeout=self.timeout, stream=True) as r:
                # Read the body here, within the cap, so a huge file never sits in memory whole.
                length = r.headers.get("Content-Length", "")
                if max_bytes and length.isdigit() and int(length) > max_bytes:
                    raise TooLarge(url, f"too large: {int(length)} bytes > max_bytes {max_bytes}")
                body = bytearray()
                for chunk in r.iter_content(64 * 1024):
                    body += chunk
                    if max_bytes and len(body) > max_bytes:
                        raise TooLarge(url, f"too large: over max_bytes {max_bytes}")
        except requests.RequestException as exc:
            self._failures[host] = self._failures.get(host, 0) + 1
            raise FetchError(url, _network_reason(exc)) from exc
        finally:
            self._last[host] = time.monotonic()
        self._failures[host] = 0
        return Response(url=r.url, status=r.status_code, body=bytes(body),
                        content_type=r.headers.get("Content-Type", ""),
                        content_disposition=r.headers.get("Content-Disposition", ""))

    def _robots_for(self, url: str) -> RobotFileParser:
        parts = urlsplit(url)
        host = parts.netloc
        if host not in self._robots:
            robots_url = f"{parts.scheme}://{host}/robots.txt"
            parser = RobotFileParser(robots_url)
            try:
                r = self._get(robots_url, max_bytes=512 * 1024)
            except FetchError as exc:
                raise SiteUnreachable(robots_url, exc.reason) from exc
            # The conventions urllib.robotparser.read() applies: 401/403 forbid everything, other 4xx allow it.
            if r.status in (401, 403):
                parser.disallow_all = True
            elif 400 <= r.status < 500:
                parser.allow_all = True
            elif r.status >= 500:
                raise SiteUnreachable(robots_url, f"HTTP {r.status} after retries")
            else:
                parser.parse(r.body.decode("utf-8", "replace").splitlines())
            self._robots[host] = parser
        return self._robots[host]

    def fetch(self, url: str, max_bytes: int | None = None) -> Response:
        """GET a URL politely; raises Disallowed, TooLarge, SiteUnreachable or FetchError (naming the URL)."""
        host = urlsplit(url).netloc
        if self._failures.get(host, 0) >= MAX_CONSECUTIVE_FAILURES:
            raise SiteUnreachable(url, f"{host} failed {MAX_CONSECUTIVE_FAILURES} times in a row")
        if not self._robots_for(url).can_fetch(self.user_agent, url):
            raise Disallowed(url, "robots.txt disallows it")
        r = self._get(url, max_bytes)
        if r.status != 200:
            retried = " after retries" if r.status == 429 or r.status >= 500 else ""
            raise FetchError(url, f"HTTP {r.status}{retried}")
        return r
