"""Web sources of a genre's MIDI files: Tadpole Tunes and MidiWorld listings or a list of URLs, every download verified."""
from __future__ import annotations

import io
import json
import logging
import re
import zipfile
from collections import deque
from dataclasses import dataclass
from email.message import Message
from pathlib import Path, PurePosixPath
from typing import Iterable, Iterator, Sequence
from urllib.parse import unquote, urldefrag, urljoin, urlsplit

from bs4 import BeautifulSoup
from tqdm import tqdm

from .artifacts import safe_name, sha256, unique_name, write_bytes, write_json
from .params import SITES
from .http_session import Disallowed, FetchError, PoliteSession, Response, SiteUnreachable, TooLarge
from .midi_io import is_midi

log = logging.getLogger(__name__)

MIDI_SUFFIXES = (".mid", ".midi", ".kar")
MAX_ZIP_MEMBERS = 1000
MAX_LISTING_PAGES = 1000
# Link texts that say nothing about the tune; the title is then the text around the link.
GENERIC_LINK_TEXT = {"", "download", "mid", "midi", "here", "click here", "link"}
NEXT_LINK_TEXT = {"next", "next page", "next >", "next »", "»", ">", ">>"}
MIDIWORLD_DOWNLOAD = re.compile(r"/download/\d+/?$")
MIDIWORLD_SEARCH_PAGE = re.compile(r"/search/(\d+/)?$")


@dataclass(frozen=True)
class Link:
    """A MIDI file that a listing offers: its URL and the title the page gives it."""

    url: str
    title: str = ""


@dataclass(frozen=True)
class Item:
    """One file found in a download: its name, and its bytes or why it was rejected."""

    name: str
    data: bytes | None
    reason: str = ""
    member: str = ""  # the path inside a zip


# ---- listings ---------------------------------------------------------------------------------------


def _is_midi_url(url: str, site: str) -> bool:
    path = urlsplit(url).path
    return path.lower().endswith(MIDI_SUFFIXES) or (site == "midiworld" and bool(MIDIWORLD_DOWNLOAD.search(path)))


def _is_listing_page(url: str, page_url: str, site: str, anchor) -> bool:
    """Whether a link leads to another page of the same listing (MidiWorld's numbered pages, or a `next` link)."""
    target, page = urlsplit(url), urlsplit(page_url)
    if target.netloc != page.netloc:
        return False
    if "next" in (anchor.get("rel") or []) or anchor.get_text(" ", strip=True).lower() in NEXT_LINK_TEXT:
        return True
    return site == "midiworld" and bool(MIDIWORLD_SEARCH_PAGE.search(target.path)) and target.query == page.query


def _title(anchor) -> str:
    """A link's tune title: its own text, or (MidiWorld's `Title - by Artist (Category) - download`) the text around it."""
    text = " ".join(anchor.get_text(" ", strip=True).split())
    if text.lower() not in GENERIC_LINK_TEXT:
        return text
    holder = anchor.find_parent(["li", "b", "td", "p"])
    if holder is None:
        return ""
    around = " ".join(s for s in holder.find_all(string=True) if not any(p is anchor for p in s.parents))
    return " ".join(around.split()).strip(" -\u2013")


def listing_links(html: bytes | str, page_url: str, site: str) -> tuple[list[Link], list[str]]:
    """The MIDI links on one listing page (absolute URLs, in page order) and the URLs of the listing's other pages."""
    soup = BeautifulSoup(html, "html.parser")
    links, pages = [], []
    for anchor in soup.find_all("a", href=True):
        url = urldefrag(urljoin(page_url, anchor["href"].strip())).url
        if urlsplit(url).scheme not in ("http", "https"):
            continue
        if _is_midi_url(url, site):
            links.append(Link(url, _title(anchor)))
        elif _is_listing_page(url, page_url, site, anchor):
            pages.append(url)
    return links, pages


def site_links(session: PoliteSession, site: str, listing: Sequence[str], max_bytes: int) -> Iterator[Link]:
    """Every MIDI link of a site's listing pages, following their pagination lazily; each URL once."""
    if site not in SITES:
        raise ValueError(f"unknown site {site!r}; the scrapers know {SITES}")
    queue, seen_pages, seen_links, found = deque(listing), set(listing), set(), 0
    for _ in range(MAX_LISTING_PAGES):
        if not queue:
            break
        page = queue.popleft()
        try:
            response = session.fetch(page, max_bytes)
        except SiteUnreachable:
            raise
        except FetchError as exc:  # one broken listing page loses its links, not the genre
            log.warning("listing page %s skipped: %s", page, exc.reason)
            continue
        links, pages = listing_links(response.body, response.url, site)
        log.info("listing page %s: %d MIDI links, %d more pages", page, len(links), len(pages))
        for url in pages:
            if url not in seen_pages:
                seen_pages.add(url)
                queue.append(url)
        for link in links:
            if link.url not in seen_links:
                seen_links.add(link.url)
                found += 1
                yield link
    if not found:
        raise FetchError(", ".join(listing), f"no MIDI links found on the {site} listing pages (unreachable, "
                         "disallowed by robots.txt, or a changed page layout: see the warnings above)")


def url_list(path: Path) -> list[Link]:
    """The MIDI URLs of a text file, one a line (blank lines and lines starting with # skipped), each once."""
    if not path.is_file():
        raise FileNotFoundError(f"URL list {path} not found; set genres.<name>.urls_file to a text file of MIDI URLs")
    links: dict[str, Link] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        url = line.strip()
        if not url or url.startswith("#"):
            continue
        if urlsplit(url).scheme not in ("http", "https"):
            raise ValueError(f"{path}:{number}: {url!r} is not an http(s) URL")
        title = _strip_suffix(unquote(PurePosixPath(urlsplit(url).path).name))
        links.setdefault(urldefrag(url).url, Link(urldefrag(url).url, title))
    return list(links.values())


# ---- verification -----------------------------------------------------------------------------------


def _strip_suffix(name: str) -> str:
    base = PurePosixPath(name.replace("\\", "/")).name
    for suffix in (*MIDI_SUFFIXES, ".zip"):
        if base.lower().endswith(suffix):
            return base[: -len(suffix)]
    return base


def _not_midi(body: bytes) -> str:
    head = body[:512].lstrip().lower()
    if head.startswith((b"<!doctype html", b"<html")) or b"<html" in head or b"<body" in head:
        return "not a MIDI file: an HTML page"
    return f"not a MIDI file: starts with {body[:8]!r}"


def _zip_members(body: bytes, max_bytes: int) -> list[Item]:
    """The MIDI members of a zip, read into memory (never extracted by their own paths)."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(body))
        infos = [i for i in archive.infolist() if not i.is_dir()]
    except (zipfile.BadZipFile, OSError) as exc:
        return [Item("", None, f"broken zip: {exc}")]
    if len(infos) > MAX_ZIP_MEMBERS:
        return [Item("", None, f"zip has {len(infos)} members, more than {MAX_ZIP_MEMBERS}")]
    items = []
    for info in infos:
        member = info.filename
        parts = PurePosixPath(member.replace("\\", "/")).parts
        name = _strip_suffix(member)
        if member.startswith(("/", "\\")) or ".." in parts or re.match(r"^[A-Za-z]:", member):
            items.append(Item(name, None, "unsafe path in zip", member))
        elif member.lower().endswith(".zip"):
            items.append(Item(name, None, "nested zip not opened", member))
        elif not member.lower().endswith(MIDI_SUFFIXES):
            items.append(Item(name, None, "not a MIDI member", member))
        elif info.file_size > max_bytes:
            items.append(Item(name, None, f"too large: {info.file_size} bytes > max_bytes {max_bytes}", member))
        else:
            try:
                with archive.open(info) as f:
                    data = f.read(max_bytes + 1)  # the header's size may lie (zip bombs)
            except (zipfile.BadZipFile, RuntimeError, NotImplementedError, OSError) as exc:
                items.append(Item(name, None, f"unreadable zip member: {exc}", member))
                continue
            if len(data) > max_bytes:
                items.append(Item(name, None, f"too large: over max_bytes {max_bytes}", member))
            elif not is_midi(data):
                items.append(Item(name, None, _not_midi(data), member))
            else:
                items.append(Item(name, data, "", member))
    return items


def midi_files(body: bytes, name: str, max_bytes: int) -> list[Item]:
    """The MIDI files in a download: the download itself if it starts with MThd, or the MIDI members of a zip."""
    if len(body) > max_bytes:
        return [Item(name, None, f"too large: {len(body)} bytes > max_bytes {max_bytes}")]
    if is_midi(body):
        return [Item(name, body)]
    if body.startswith(b"PK\x03\x04"):
        return _zip_members(body, max_bytes)
    return [Item(name, None, _not_midi(body))]


def disposition_filename(value: str) -> str:
    """The file name in a Content-Disposition header ('' if none), as the server sent it: sanitise before use."""
    if not value:
        return ""
    message = Message()
    message["Content-Disposition"] = value
    return message.get_filename() or ""


def download_name(response: Response, link: Link) -> str:
    """A file's name before sanitising: Content-Disposition's, else the listing's title, else the URL's last part."""
    return (_strip_suffix(disposition_filename(response.content_disposition)) or link.title
            or _strip_suffix(unquote(PurePosixPath(urlsplit(link.url).path).name)))


# ---- the download cache -----------------------------------------------------------------------------


def _cache_paths(cache_dir: Path, url: str) -> tuple[Path, Path]:
    key = sha256(url.encode("utf-8"))[:32]
    return cache_dir / f"{key}.json", cache_dir / f"{key}.body"


def cached(cache_dir: Path, url: str) -> Response | None:
    """The response stored for a URL by an earlier run, or None (also when the stored body is damaged)."""
    meta_path, body_path = _cache_paths(cache_dir, url)
    try:
        meta = json.loads(meta_path.read_text())
        body = body_path.read_bytes()
    except (OSError, ValueError):
        return None
    if meta.get("url") != url or sha256(body) != meta.get("sha256"):
        return None
    return Response(url=meta["final_url"], status=200, body=body, content_type=meta["content_type"],
                    content_disposition=meta["content_disposition"])


def store(cache_dir: Path, url: str, response: Response) -> None:
    """Keep a response for later runs: body first, then its description, each written atomically."""
    meta_path, body_path = _cache_paths(cache_dir, url)
    write_bytes(body_path, response.body)
    write_json(meta_path, {"url": url, "final_url": response.url, "content_type": response.content_type,
                           "content_disposition": response.content_disposition,
                           "bytes": len(response.body), "sha256": sha256(response.body)})


# ---- a genre ----------------------------------------------------------------------------------------


def scrape(links: Iterable[Link], session: PoliteSession, out_dir: Path, cache_dir: Path,
           max_pieces: int, max_bytes: int, desc: str = "scrape") -> Iterator[dict]:
    """Fetch (or take from the cache), verify and keep MIDI files in out_dir; yields one manifest record per file.

    Stops after max_pieces kept files (0 = no limit). Raises SiteUnreachable when a host stops answering.
    """
    taken: set[str] = set()
    kept_by_hash: dict[str, str] = {}
    bar = tqdm(total=max_pieces or None, desc=desc, unit="file")
    counts = {"rejected": 0, "duplicate": 0, "failed": 0}
    try:
        for link in links:
            if max_pieces and len(kept_by_hash) >= max_pieces:
                break
            base = {"url": link.url, "piece": link.title}
            response = cached(cache_dir, link.url)
            if response is None:
                try:
                    response = session.fetch(link.url, max_bytes)
                except SiteUnreachable:
                    raise
                except (Disallowed, TooLarge) as exc:
                    counts["rejected"] += 1
                    yield {**base, "status": "rejected", "reason": exc.reason}
                    continue
                except FetchError as exc:
                    counts["failed"] += 1
                    yield {**base, "status": "failed", "reason": exc.reason}
                    continue
                store(cache_dir, link.url, response)
            for item in midi_files(response.body, download_name(response, link), max_bytes):
                if max_pieces and len(kept_by_hash) >= max_pieces:
                    break
                record = {**base, "piece": link.title or item.name}
                if item.member:
                    record["member"] = item.member
                if item.data is None:
                    counts["rejected"] += 1
                    yield {**record, "status": "rejected", "reason": item.reason}
                    continue
                digest = sha256(item.data)
                if digest in kept_by_hash:
                    counts["duplicate"] += 1
                    yield {**record, "status": "duplicate", "sha256": digest, "duplicate_of": kept_by_hash[digest]}
                    continue
                name = unique_name(safe_name(item.name, ".mid"), taken)
                write_bytes(out_dir / name, item.data)
                kept_by_hash[digest] = name
                bar.update(1)
                bar.set_postfix(counts)
                yield {**record, "file": name, "sha256": digest, "bytes": len(item.data), "status": "kept"}
    finally:
        bar.close()
