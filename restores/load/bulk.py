"""Bulk bodies from a snapshot's stream, and the parallel senders that index them.

502/503/504 and connection errors are retried by the connection with backoff and jitter;
a rejection for load (a whole bulk answered 429, as Elasticsearch does, or items rejected
with 429, as OpenSearch does) is retried here alone: the connection leaves 429 to us
(`caller_retries`). Items that can never index are counted and reported with the first
reasons. How many bulks are in flight is not fixed: a Window lets `workers` at most,
halves on a rejection for load and grows back by one per window's worth of clean answers
(AIMD, as TCP does)."""
from __future__ import annotations

import queue
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import orjson

from backups.elastic.connection import ClusterError, Connection, index_path
from backups.elastic.dump import Cancelled

RETRY_ITEM_STATUSES = frozenset({429, 502, 503, 504})
LOAD_STATUSES = frozenset({429})    # a whole bulk refused for load: the window resends it, not the connection
MAX_REASONS = 5
# What a _bulk answer is asked for: per item its status and error, in the items' order
# (every item has a status, so none drops out of the list). Not `_index`, `_id`,
# `_version`, `result`, `_shards`, `_seq_no`, `_primary_term`: ~160 of the ~185 bytes an
# item costs the server to write and us to receive (a 10 MB bulk of 15,000 documents
# answers 0.4 MB instead of 2.7 MB).
ANSWER_FIELDS = {"filter_path": "errors,items.*.status,items.*.error"}

LINE = re.compile(rb'\{"_id":("(?:[^"\\]|\\.)*")(?:,"_routing":("(?:[^"\\]|\\.)*"))?,"_source":')
_ACTION_ID = re.compile(rb'\{"(?:index|create)":\{"_id":("(?:[^"\\]|\\.)*")')

T = TypeVar("T")
OnAck = Callable[[int, int], None]     # (documents indexed, bytes answered) of one _bulk


@dataclass(frozen=True)
class Batch:
    body: bytes | bytearray       # never changed once the batch is made
    offsets: tuple[int, ...]      # item k is body[offsets[k]:offsets[k+1]]
    attempt: int = 0

    @property
    def n(self) -> int:
        return len(self.offsets) - 1

    def item(self, k: int) -> bytes:
        return bytes(self.body[self.offsets[k]:self.offsets[k + 1]])

    def subset(self, ks: Iterable[int]) -> Batch:
        """The items `ks` as a new batch, one attempt later."""
        parts, offsets, pos = [], [0], 0
        for k in ks:
            it = self.item(k)
            parts.append(it)
            pos += len(it)
            offsets.append(pos)
        return Batch(b"".join(parts), tuple(offsets), self.attempt + 1)


def _id_of(item: bytes) -> str:
    m = _ACTION_ID.match(item)
    return str(orjson.loads(m.group(1))) if m else "?"


def split_lines(chunks: Iterable[bytes]) -> Iterator[bytes]:
    rest = b""
    for chunk in chunks:
        if not chunk:
            continue
        buf = rest + chunk if rest else bytes(chunk)
        lines = buf.split(b"\n")
        rest = lines.pop()
        yield from lines
    if rest:
        yield rest


class Batches:
    """Bulk bodies from dump lines, without parsing `_source`; `read` counts the lines."""

    def __init__(self, lines: Iterable[bytes], *, op: str, bulk_bytes: int, bulk_docs: int) -> None:
        self.lines, self.op = lines, op.encode()
        self.bulk_bytes, self.limit_docs = bulk_bytes, bulk_docs or 1 << 62
        self.read = 0

    def __iter__(self) -> Iterator[Batch]:
        # each bulk grows in one buffer, the sources copied in once from their lines: a list
        # of its ~45,000 pieces joined at the end held the bulk twice while it was joined
        op = b'{"' + self.op + b'":{"_id":'
        body, offsets = bytearray(), [0]
        for line in self.lines:
            if not line:
                continue
            m = LINE.match(line)
            if m is None or not line.endswith(b"}"):
                raise ValueError(f"snapshot stream line {self.read + 1} is not a dump line: {line[:120]!r}")
            body += op
            body += m.group(1)
            if m.group(2):
                body += b',"routing":'
                body += m.group(2)
            body += b"}}\n"
            body += memoryview(line)[m.end():-1]
            body += b"\n"
            offsets.append(len(body))
            self.read += 1
            if len(body) >= self.bulk_bytes or len(offsets) > self.limit_docs:
                yield Batch(body, tuple(offsets))
                body, offsets = bytearray(), [0]
        if len(offsets) > 1:
            yield Batch(body, tuple(offsets))


class FirstAhead(Generic[T]):
    """The first item of an iterator taken on another thread while this one does something
    else; then the iterator goes on here (one thread at a time ever runs it)."""

    def __init__(self, items: Iterator[T]) -> None:
        self.items = items
        self._first: list[T] = []
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._take, name="bulk-ahead", daemon=True)
        self._thread.start()

    def _take(self) -> None:
        try:
            self._first.append(next(self.items))
        except StopIteration:
            pass
        except BaseException as e:  # noqa: BLE001 - raised where the items are iterated
            self._error = e

    def __iter__(self) -> Iterator[T]:
        self._thread.join()
        if self._error is not None:
            raise self._error
        while self._first:
            yield self._first.pop()
        yield from self.items

    def close(self) -> None:
        """Stop the iterator (a generator's `finally` runs: its reads are let go)."""
        self._thread.join()
        self._first.clear()
        close = getattr(self.items, "close", None)
        if close is not None:
            close()


class Window:
    """How many bulks may be in flight at once, between 1 and `most`. A rejection for load
    (HTTP 429, or items rejected with 429 / es_rejected_execution_exception) halves it,
    once per round: rejections of bulks sent before the last cut are the same overload.
    `limit` clean answers in a row grow it by one."""

    def __init__(self, most: int) -> None:
        self.most = self.limit = self.lowest = max(1, most)
        self.cuts = 0
        self._inflight = self._clean = self._sent = self._cut_at = 0
        self._cond = threading.Condition()

    def acquire(self) -> int:
        """Wait for room; the ticket (send number) to hand to rejected() and release()."""
        with self._cond:
            while self._inflight >= self.limit:
                self._cond.wait()
            self._inflight += 1
            self._sent += 1
            return self._sent

    def rejected(self, ticket: int) -> None:
        with self._cond:
            self._clean = 0
            if ticket > self._cut_at:
                self.limit = max(1, self.limit // 2)
                self.lowest = min(self.lowest, self.limit)
                self.cuts += 1
                self._cut_at = self._sent

    def release(self, clean: bool) -> None:
        with self._cond:
            self._inflight -= 1
            if clean:
                self._clean += 1
                if self._clean >= self.limit and self.limit < self.most:
                    self.limit += 1
                    self._clean = 0
            self._cond.notify_all()


def _for_load(e: ClusterError) -> bool:
    return e.status == 429 or e.error_type == "es_rejected_execution_exception"


def _reason(status: int, err: Any) -> str:
    if not isinstance(err, dict):
        return f"HTTP {status} {err}"
    reason = f"{err.get('type', '')}: {err.get('reason', '')}"
    cb = err.get("caused_by")
    if isinstance(cb, dict) and cb.get("reason"):
        reason += f" (caused by: {cb.get('type', '')}: {cb['reason']})"
    return f"HTTP {status} {reason}"


_NO_ERRORS = re.compile(rb'^\{(?:"(?:took|ingest_took)":\d+,)*"errors":false[,}]')


def _all_indexed(body: bytes) -> bool:
    """A `_bulk` answer that says `"errors":false` up front (Elasticsearch and OpenSearch
    put `took` and `errors` before `items`)."""
    return _NO_ERRORS.match(body[:120]) is not None


def _retry_item(res: dict[str, Any]) -> bool:
    """An item the cluster refused for load (or a passing failure): send it again."""
    err = res.get("error") or {}
    return (int(res.get("status", 500)) in RETRY_ITEM_STATUSES
            or (isinstance(err, dict) and err.get("type") == "es_rejected_execution_exception"))


class BulkSender:
    """`workers` threads sending the batches put on `q` into `target`; `indexed`,
    `failed` and the first `reasons` as they are answered, `fatal` the error that stops it."""

    def __init__(self, conn: Connection, target: str, *, op: str, workers: int, max_item_retries: int,
                 cancel: threading.Event, on_ack: OnAck | None = None) -> None:
        self.conn, self.target, self.op, self.cancel = conn, target, op, cancel
        self.max_item_retries, self.on_ack = max_item_retries, on_ack
        self.path = index_path(target) + "/_bulk"
        # memory: workers sending + this many built ahead, each up to bulk_bytes
        self.q: queue.Queue[Batch | None] = queue.Queue(maxsize=max(1, workers // 2))
        self.lock = threading.Lock()
        self.indexed = 0
        self.failed = 0
        self.reasons: list[str] = []
        self.fatal: BaseException | None = None
        self.window = Window(workers)
        self.threads = [threading.Thread(target=self._work, name=f"load-{target}-{i}", daemon=True)
                        for i in range(max(1, workers))]

    def __enter__(self) -> BulkSender:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        for _ in self.threads:
            self.q.put(None)
        for t in self.threads:
            t.join()

    def _work(self) -> None:
        while True:
            batch = self.q.get()
            if batch is None:
                return
            if self.fatal is not None:
                continue  # drain
            try:
                self.send(batch)
            except BaseException as e:  # noqa: BLE001 - handed to the loop that feeds the queue
                with self.lock:
                    if self.fatal is None:
                        self.fatal = e

    def _fail(self, ids_reasons: list[tuple[str, str]]) -> None:
        with self.lock:
            self.failed += len(ids_reasons)
            for _id, reason in ids_reasons:
                if len(self.reasons) < MAX_REASONS:
                    self.reasons.append(f"{_id}: {reason}")

    def _acked(self, docs: int, nbytes: int) -> None:
        with self.lock:
            self.indexed += docs
        if self.on_ack is not None:
            self.on_ack(docs, nbytes)

    def send(self, batch: Batch | None) -> None:
        """Index `batch`, halving it when the server finds it too large and resending the
        items it rejects for load; raises when retries are exhausted."""
        overloaded = 0   # whole requests refused for load
        while batch is not None and batch.n:
            if self.cancel.is_set():
                raise Cancelled(f"restore of {self.target} cancelled")
            ticket = self.window.acquire()
            try:
                r = self._post(batch)
            except ClusterError as e:
                if _for_load(e):
                    self.window.rejected(ticket)
                self.window.release(clean=False)
                if _for_load(e) and overloaded < self.max_item_retries:
                    # Elasticsearch refuses a whole bulk (429) where OpenSearch refuses its
                    # items: the window is smaller now, so wait and send it again
                    overloaded += 1
                    self.conn.backoff(overloaded)
                    continue
                if e.status == 413 and batch.n > 1:
                    # larger than the server's http.max_content_length: halve and go on
                    half = batch.n // 2
                    self.send(batch.subset(range(half)))
                    batch = batch.subset(range(half, batch.n))
                    continue
                if e.permanent:
                    self._fail([(_id_of(batch.item(k)), str(e)) for k in range(batch.n)])
                    return
                raise  # retries exhausted: the index fails, nothing is counted as done
            if _all_indexed(r.body):
                # the common answer: no item to look at, so its ~1 KB per item is never parsed
                self.window.release(clean=True)
                self._acked(batch.n, len(batch.body))
                return
            doc = orjson.loads(r.body)
            rejected = self._rejected_items(doc)
            if rejected:
                self.window.rejected(ticket)
            self.window.release(clean=not rejected)
            batch = self._answered(batch, doc)

    def _post(self, batch: Batch) -> Any:
        return self.conn.request("POST", self.path, raw=batch.body, params=ANSWER_FIELDS, ctype="application/x-ndjson",
                                 index=self.target, privilege=f"write (or index) on index {self.target}",
                                 caller_retries=LOAD_STATUSES)

    @staticmethod
    def _rejected_items(doc: dict[str, Any]) -> bool:
        if not doc.get("errors"):
            return False
        return any(_retry_item(next(iter(it.values()))) for it in doc.get("items") or [])

    def _answered(self, batch: Batch, doc: dict[str, Any]) -> Batch | None:
        """Count an answer's items; the batch of items to resend, or None."""
        items = doc.get("items") or []
        if not doc.get("errors"):
            self._acked(batch.n, len(batch.body))
            return None
        if len(items) != batch.n:
            raise ClusterError(f"_bulk into {self.target} answered {len(items)} items "
                               f"for {batch.n} sent: the server is misbehaving; retry the restore")
        retry, bad, good = [], [], 0
        for k, it in enumerate(items):
            res = next(iter(it.values()))
            status = int(res.get("status", 500))
            err = res.get("error") or {}
            if status < 300 or (status == 409 and self.op == "create"):
                # a create that conflicts was already written (its answer was lost or
                # rejected after the fact): resent items into a data stream are not lost
                good += 1
            elif _retry_item(res):
                retry.append(k)
            else:
                bad.append((res.get("_id") or _id_of(batch.item(k)), _reason(status, err)))
        self._acked(good, len(batch.body) - sum(len(batch.item(k)) for k in retry))
        if bad:
            self._fail(bad)
        return self._resend(batch, retry) if retry else None

    def _resend(self, batch: Batch, retry: list[int]) -> Batch | None:
        again = batch.subset(retry)
        if again.attempt > self.max_item_retries:
            why = (f"still rejected (429/503) after {self.max_item_retries} retries: the "
                   "cluster is overloaded; lower the restore's workers or bulk size")
            self._fail([(_id_of(again.item(k)), why) for k in range(again.n)])
            return None
        self.conn.backoff(again.attempt)
        return again
