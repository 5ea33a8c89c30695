"""Turn a raw search response into dump lines without touching `_source`'s bytes.

A dump line is `{"_id":…,"_routing":…(when set),"_source":<the raw bytes>}\\n`.
Parsing `_source` into Python and serializing it again would lose digits (floats beyond
double precision, integers beyond 64 bits, `1.50` → `1.5`) and cost most of a dump's
CPU, so the page is decoded with msgspec against a typed schema in which `_source` is a
`msgspec.Raw`: the exact bytes the server sent, validated but never turned into Python
objects, and fields we do not ask for are skipped without allocating anything. On
5,000-document pages this is ~13x faster than walking the page with the stdlib's C
scanner (the previous parser) and ~10x faster than orjson parsing the page and
re-serializing each `_source` (what the anchor's raw reader does).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import msgspec
from msgspec import Raw, Struct

from backups.elastic.connection import ClusterError
from backups.elastic.keys import doc_key


@dataclass
class Page:
    lines: bytes = b""
    docs: int = 0
    last_sort: list[Any] | None = None
    scroll_id: str | None = None
    pit_id: str | None = None
    total: int | None = None              # only when the server says relation "eq"
    shard_failures: list[Any] = field(default_factory=list)
    slice: int = 0                        # the reader's slice that read it
    keys: list[bytes] = field(default_factory=list)   # each document's key (backups.elastic.keys), in line order, when asked
    codes: list[int] | None = None        # each document's shard and _seq_no (backups.elastic.seqs), when asked and known


# -- the part of a search response a dump reads (everything else is skipped) -------------
_NONE = Raw()   # Raw cannot be in a union: an empty Raw marks "absent"


class _Hit(Struct):
    id: str = msgspec.field(name="_id")
    source: Raw = msgspec.field(name="_source", default=_NONE)
    routing: str | None = msgspec.field(name="_routing", default=None)
    sort: Raw = _NONE
    seq_no: int | None = msgspec.field(name="_seq_no", default=None)


class _Hits(Struct):
    hits: list[_Hit] = msgspec.field(default_factory=list)
    total: Raw = _NONE


class _Shards(Struct):
    failures: Raw = _NONE


class _Response(Struct):
    hits: _Hits = msgspec.field(default_factory=_Hits)
    scroll_id: str | None = msgspec.field(name="_scroll_id", default=None)
    pit_id: str | None = None
    shards: _Shards = msgspec.field(name="_shards", default_factory=_Shards)


_decode = msgspec.json.Decoder(_Response).decode
_decode_any = msgspec.json.Decoder().decode
_decode_ints = msgspec.json.Decoder(list[int]).decode
_encode = msgspec.json.Encoder().encode


def _total(raw: Raw) -> int | None:
    if not raw:
        return None
    t = _decode_any(raw)
    if isinstance(t, int):
        return t
    if isinstance(t, dict) and t.get("relation") == "eq":
        return int(t.get("value", 0))
    return None


def parse_page(raw: bytes, *, index: str = "", keys: bool = False, ids_only: bool = False,
               codes: str | int | None = None) -> Page:
    """Parse one `_search` / scroll response into dump lines; with `keys`, each document's
    key too (backups.elastic.keys); `ids_only` (a read with `_source: false`): keys only.
    `codes`: each document's shard and `_seq_no` (backups.elastic.seqs), from its sort
    values ("shard_doc": `[_seq_no, _shard_doc]`, whose high 32 bits are the shard; "sort0":
    `[_seq_no, …]` of a one-shard index) or, an int, the shard every hit is from (`_seq_no`
    asked with `seq_no_primary_term`)."""
    try:
        resp = _decode(raw)
    except msgspec.ValidationError as e:
        raise ClusterError(f"unexpected search response{f' for index {index}' if index else ''}: {e}") from None
    except msgspec.DecodeError as e:
        raise ClusterError(f"the server sent a search response that is not valid JSON"
                           f"{f' for index {index}' if index else ''}: {e}") from None
    hits = resp.hits.hits
    if ids_only:
        page = _page(resp, b"", len(hits))
        page.keys = [doc_key(h.id, h.routing) for h in hits]
        return page
    # a literal newline in a response can only be whitespace between tokens (inside JSON
    # strings it is escaped); NDJSON and _bulk need one document per line
    newlines = b"\n" in raw or b"\r" in raw
    out: list[bytes] = []
    add = out.append
    for h in hits:
        if not h.source:
            raise ClusterError(f"document {h.id!r}{f' of index {index}' if index else ''} has no _source "
                               "(the mapping disables _source, or a source filter removed it): a dump "
                               "needs every document's _source; use the cluster's own snapshots for "
                               "indices without it, or exclude the index")
        source = bytes(h.source)
        if newlines and (b"\n" in source or b"\r" in source):
            source = source.replace(b"\r", b" ").replace(b"\n", b" ")
        if h.routing is None:
            add(b'{"_id":' + _encode(h.id) + b',"_source":' + source + b"}\n")
        else:
            add(b'{"_id":' + _encode(h.id) + b',"_routing":' + _encode(h.routing)
                + b',"_source":' + source + b"}\n")
    page = _page(resp, b"".join(out), len(hits))
    if keys:
        page.keys = [doc_key(h.id, h.routing) for h in hits]
    if codes is not None:
        page.codes = _codes(hits, codes)
    return page


def _codes(hits: list[_Hit], how: str | int) -> list[int] | None:
    """None when a hit does not say (the layer then gets no sequence list)."""
    try:
        if isinstance(how, int):
            pairs = [(how, h.seq_no) for h in hits if h.seq_no is not None]
        elif how == "shard_doc":
            pairs = [(s[1] >> 32, s[0]) for s in (_decode_ints(h.sort) for h in hits) if len(s) == 2]
        else:
            pairs = [(0, _decode_ints(h.sort)[0]) for h in hits]
    except (msgspec.ValidationError, msgspec.DecodeError, IndexError):
        return None
    if len(pairs) != len(hits) or not all(0 <= seq < 1 << 48 and 0 <= shard < 1 << 15 for shard, seq in pairs):
        return None
    return [shard << 48 | seq for shard, seq in pairs]


def _page(resp: _Response, lines: bytes, docs: int) -> Page:
    hits = resp.hits.hits
    page = Page(lines=lines, docs=docs, scroll_id=resp.scroll_id, pit_id=resp.pit_id, total=_total(resp.hits.total))
    if hits and hits[-1].sort:
        page.last_sort = _decode_any(hits[-1].sort)
    if resp.shards.failures:
        page.shard_failures = _decode_any(resp.shards.failures) or []
    return page
