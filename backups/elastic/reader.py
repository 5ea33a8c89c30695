"""Reading one index through a consistent view: a sliced scroll sorted by `_doc`, or a
point in time with `search_after` on `_shard_doc`; slices read in parallel threads into
one queue of pages, in order of arrival. The view's exact count comes with it."""
from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import Any

from backups.elastic.connection import ClusterError, Connection, index_path
from backups.elastic.hits import Page, parse_page
from backups.elastic.metadata import IndexInfo

_DONE = object()


class Reader:
    """Parallel slice readers feeding one ordered-by-arrival queue of pages."""

    def __init__(self, conn: Connection, info: IndexInfo, mode: str, cancel: threading.Event, *,
                 page_docs: int, max_slices: int, keep_alive: str,
                 after: dict[int, list[Any]] | None = None, query: dict[str, Any] | None = None,
                 keys: bool = False, ids_only: bool = False, codes: bool = False) -> None:
        self.conn, self.info, self.mode, self.keep_alive = conn, info, mode, keep_alive
        # an incremental dump's reads (backups/elastic/incremental.py): the documents a
        # query selects, each page with its documents' keys; or the keys alone
        self.query, self.keys, self.ids_only = query, keys or ids_only, ids_only
        self.body: dict[str, Any] = {**({"query": query} if query else {}), **({"_source": False} if ids_only else {})}
        # an ids-only scroll needs nothing but the ids (no _index, _score, sort): ~30 bytes a document
        self.params = {"filter_path": "_scroll_id,hits.total,hits.hits._id,hits.hits._routing,_shards.failures"} \
            if ids_only and mode == "scroll" else {}
        # each document's shard and _seq_no (backups/elastic/seqs.py), where the read can say
        self.codes = codes
        # point in time only: each slice's search_after to start from (a resumed read)
        self.after = dict(after or {})
        self.page_docs = page_docs
        self.cancel = cancel
        self.slices = max(1, min(info.shards, max_slices))
        self.q: queue.Queue[Any] = queue.Queue(maxsize=max(2, self.slices))
        self.stop = threading.Event()
        self.totals: dict[int, int | None] = {}
        self.first = threading.Semaphore(0)
        self._signalled: set[int] = set()
        self.pit_id: str | None = None
        self.scroll_ids: set[str] = set()
        self.threads: list[threading.Thread] = []
        self.expected: int | None = None
        self.view_total: int | None = None   # a point in time with a query: all its documents
        self.count_source = ""
        self.notes: list[str] = []

    # -- view -------------------------------------------------------------------------
    def open(self) -> None:
        d = self.conn.dialect
        assert d is not None
        p = index_path(self.info.name)
        if self.mode == "pit" and d.pit_sort(self.info.shards) is None:
            self.notes.append(f"index {self.info.name}: {d.distribution} {d.version_string} cannot page a point "
                              f"in time over {self.info.shards} shards exactly (no _shard_doc); read with scroll")
            self.mode = "scroll"
        if self.mode == "pit":
            try:
                r = self.conn.json("POST", d.pit_open_path(p), params={"keep_alive": self.keep_alive},
                                   index=self.info.name, privilege=f"read on index {self.info.name}")
            except ClusterError as e:
                if not e.endpoint_missing:
                    raise
                # the server has no PIT (or not at this path): scroll is the fallback
                self.notes.append(f"index {self.info.name}: point in time unavailable ({e}); read with scroll")
                self.mode = "scroll"
                self.open()
                return
            self.pit_id = r.get("pit_id") or r.get("id")
            c = self.conn.json("POST", "/_search", {"size": 0, "track_total_hits": True, **self._query(),
                                                    "pit": {"id": self.pit_id, "keep_alive": self.keep_alive}},
                               privilege=f"read on index {self.info.name}")
            t = (c.get("hits") or {}).get("total") or {}
            if isinstance(t, dict) and t.get("relation") == "eq":
                self.expected, self.count_source = int(t["value"]), "pit"
            if self.query:   # every document of this same view (an incremental dump's proof of no deletions)
                a = self.conn.json("POST", "/_search", {"size": 0, "track_total_hits": True,
                                                        "pit": {"id": self.pit_id, "keep_alive": self.keep_alive}},
                                   privilege=f"read on index {self.info.name}")
                t = (a.get("hits") or {}).get("total") or {}
                self.view_total = int(t["value"]) if isinstance(t, dict) and t.get("relation") == "eq" else None
        for i in range(self.slices):
            th = threading.Thread(target=self._run, args=(i,), name=f"dump-{self.info.name}-{i}", daemon=True)
            th.start()
            self.threads.append(th)
        if self.mode == "scroll":
            # the first page of every slice carries that slice's exact total (relation "eq"
            # when the server honours track_total_hits); wait for all before streaming
            for _ in range(self.slices):
                self.first.acquire()
            if self.totals and all(v is not None for v in self.totals.values()) and len(self.totals) == self.slices:
                self.expected, self.count_source = sum(int(v or 0) for v in self.totals.values()), "scroll"
        if self.expected is None:
            c = self.conn.json("POST", f"{p}/_count", self._query(), index=self.info.name) if self.query \
                else self.conn.json("GET", f"{p}/_count", index=self.info.name)
            self.expected, self.count_source = int(c["count"]), "_count"

    def _query(self) -> dict[str, Any]:
        return {"query": self.query} if self.query else {}

    def _parse(self, raw: bytes, i: int) -> Page:
        return parse_page(raw, index=self.info.name, keys=self.keys, ids_only=self.ids_only, codes=self._how(i))

    @property
    def labels(self) -> bool:
        """Each hit's shard is known: a point in time sorted on `_shard_doc` (or of one
        shard), or a scroll with one slice per shard (slice n reads shard n)."""
        return self._how(0) is not None

    def _how(self, i: int) -> str | int | None:
        if not self.codes:
            return None
        if self.mode == "pit":
            assert self.conn.dialect is not None
            sort = self.conn.dialect.pit_sort(self.info.shards) or []
            if sort and sort[-1] == {"_shard_doc": "asc"}:
                return "shard_doc"
            return "sort0" if self.info.shards == 1 else None
        return i if self.slices == self.info.shards else None

    def search_shard(self, shard: int, body: dict[str, Any]) -> dict[str, Any]:
        """One search of one shard: in the point in time when the read has one (with as many
        slices as shards, slice n is shard n), else of the index now (`preference`)."""
        if self.mode == "pit" and self.pit_id:
            sliced = {"slice": {"id": shard, "max": self.info.shards}} if self.info.shards > 1 else {}
            pit = {"id": self.pit_id, "keep_alive": self.keep_alive}
            r: dict[str, Any] = self.conn.json("POST", "/_search", {**body, **sliced, "pit": pit},
                                               privilege=f"read on index {self.info.name}")
            return r
        r = self.conn.json("POST", f"{index_path(self.info.name)}/_search", body,
                           params={"preference": f"_shards:{shard}"}, index=self.info.name,
                           privilege=f"read on index {self.info.name}")
        return r

    def _put(self, item: Any) -> None:
        while not self.stop.is_set():
            try:
                self.q.put(item, timeout=0.2)
                return
            except queue.Full:
                continue

    def _check(self, page: Page, raw_failures: Any) -> None:
        if page.shard_failures or raw_failures:
            raise ClusterError(f"index {self.info.name}: shard failures while reading "
                               f"({str(page.shard_failures or raw_failures)[:300]}): fix the cluster's "
                               "health (GET _cluster/allocation/explain) and retry")

    def _signal_first(self, i: int) -> None:
        if i not in self._signalled:
            self._signalled.add(i)
            self.first.release()

    def _run(self, i: int) -> None:
        try:
            if self.mode == "pit":
                self._run_pit(i)
            else:
                self._run_scroll(i)
        except BaseException as e:  # noqa: BLE001 - handed to the consumer, which re-raises
            self._put(e)
        finally:
            if self.mode == "scroll":
                self._signal_first(i)
            self._put(_DONE)

    def _slice(self, i: int) -> dict[str, Any]:
        return {"slice": {"id": i, "max": self.slices}} if self.slices > 1 else {}

    def _run_scroll(self, i: int) -> None:
        body = {"size": self.page_docs, "sort": ["_doc"], "track_total_hits": True, **self._slice(i), **self.body,
                **({"seq_no_primary_term": True} if isinstance(self._how(i), int) else {})}
        r = self.conn.request("POST", f"{index_path(self.info.name)}/_search", body,
                              params={"scroll": self.keep_alive, **self.params}, index=self.info.name,
                              privilege=f"read on index {self.info.name}")
        page = self._parse(r.body, i)
        self.totals[i] = page.total
        self._signal_first(i)
        sid = page.scroll_id
        total, seen = page.total, 0
        try:
            while True:
                if sid:
                    self.scroll_ids.add(sid)
                self._check(page, None)
                # stop on an empty page, or once the slice's exact total ("eq") is read: a
                # small index costs one search, not two (a "gte" total leaves it None)
                if page.docs == 0 or self.stop.is_set():
                    return
                self._put(page)
                seen += page.docs
                if self.cancel.is_set() or (total is not None and seen >= total):
                    return
                r = self.conn.request("POST", "/_search/scroll", {"scroll": self.keep_alive,
                                                                  "scroll_id": sid}, params=self.params)
                page = self._parse(r.body, i)
                sid = page.scroll_id or sid
        finally:
            if sid:
                try:
                    self.conn.request("DELETE", "/_search/scroll", {"scroll_id": [sid]}, ok=(200, 404),
                                      retry=False)
                except ClusterError:
                    pass  # the scroll expires on its own after keep_alive

    def _run_pit(self, i: int) -> None:
        assert self.conn.dialect is not None
        sort = self.conn.dialect.pit_sort(self.info.shards)
        after = self.after.get(i)
        # one slice read from its start: the point in time's exact count says where it ends
        # (no empty last page); a resumed slice reads on to its empty page
        total = self.expected if self.slices == 1 and after is None else None
        seen = 0
        while not self.stop.is_set() and not self.cancel.is_set() and (total is None or seen < total):
            body: dict[str, Any] = {"size": self.page_docs, "sort": sort,
                                    "track_total_hits": False,
                                    "pit": {"id": self.pit_id, "keep_alive": self.keep_alive},
                                    **self._slice(i), **self.body}
            if after is not None:
                body["search_after"] = after
            r = self.conn.request("POST", "/_search", body, privilege=f"read on index {self.info.name}")
            page = self._parse(r.body, i)
            self._check(page, None)
            if page.docs == 0:
                return
            page.slice = i
            self._put(page)
            seen += page.docs
            after = page.last_sort

    # -- consumer ---------------------------------------------------------------------
    def pages(self) -> Iterator[Page]:
        running = len(self.threads)
        while running:
            item = self.q.get()
            if item is _DONE:
                running -= 1
                continue
            if isinstance(item, BaseException):
                raise item
            yield item

    def close(self) -> None:
        self.stop.set()
        for th in self.threads:
            while th.is_alive():
                try:  # unblock producers waiting on a full queue
                    self.q.get_nowait()
                except queue.Empty:
                    th.join(0.1)
        if self.pit_id and self.conn.dialect:
            m, path, body = self.conn.dialect.pit_close(self.pit_id)
            try:
                self.conn.request(m, path, body, ok=(200, 404), retry=False)
            except ClusterError:
                pass  # expires after keep_alive


