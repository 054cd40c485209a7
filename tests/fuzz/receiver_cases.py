"""Requests for the webhook receiver: a known set of correctly signed deliveries, mixed into a
stream of requests that must store nothing (unsigned, badly signed, stale, oversized, truncated,
badly framed, for unknown sources or with other methods).

Customer.io's signature is HMAC-SHA256 of `v0:<X-CIO-Timestamp>:<raw body>` (tests/helpers.py
`cio_sign`); the receiver also takes the previous key during a rotation, refuses timestamps more
than 300 s away, answers 413 over 1 MiB and 200 ("dropped") for a source without a key yet.
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from urllib.parse import quote

import orjson

from tests.fuzz import mutate
from tests.fuzz.corpus import encode
from tests.fuzz.wire import AUTO, Answer, Case, Header, request
from tests.helpers import cio_sign

SIGNED = "acme"  # has a current and a previous signing key
NO_KEY = "nokey"  # linked, no signing key yet: deliveries are acked and dropped
MAX_BODY = 1024 * 1024
WINDOW = 300
OBJECT_TYPES = ("email", "push", "sms", "in_app", "slack", "webhook", "customer", "whatsapp",
                "carrier_pigeon")
# One request in this many is a correctly signed delivery that must be stored.
VALID_EVERY = 60

REJECTED = frozenset({401})
# A header the HTTP parser refuses (a control character, a space in a name) is a 400 from it.
REJECTED_OR_UNPARSED = frozenset({400, 401})
ROUTED_AWAY = frozenset({400, 404, 405})


@dataclass(frozen=True)
class Delivery:
    """A correctly signed delivery: an event (event_id) or a dead letter (event_id None)."""

    body: bytes
    event_id: str | None
    use_previous_key: bool = False


@dataclass
class ReceiverFuzz:
    rng: random.Random
    key: str
    previous_key: str
    events: list[bytes]  # Hypothesis-drawn event-like objects, encoded
    values: list[bytes]  # Hypothesis-drawn JSON of any shape, encoded
    expected_events: set[str] = field(default_factory=set)
    expected_dead_letters: Counter[bytes] = field(default_factory=Counter)
    sent_valid: int = 0
    _serial: int = 0
    _acked: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.pool = self.events + self.values

    # -- the deliberate, correctly signed deliveries ----------------------------------------

    def _event_body(self, **overrides: object) -> tuple[bytes, str]:
        self._serial += 1
        event_id = f"01FUZZ{self.rng.getrandbits(40):012x}{self._serial:08d}"
        event = {
            "event_id": event_id,
            "object_type": self.rng.choice(OBJECT_TYPES),
            "metric": self.rng.choice(("sent", "delivered", "opened", "clicked", "bounced")),
            "timestamp": int(time.time()),
            "data": {"delivery_id": f"d{self._serial}", "recipient": "fuzz@example.com",
                     "identifiers": {"id": str(self._serial)}},
            **overrides,
        }
        return json.dumps(event).encode(), event_id

    def _valid(self) -> Delivery:
        pick = self.rng.random()
        if pick < 0.7:
            body, event_id = self._event_body()
            return Delivery(body, event_id, use_previous_key=self.rng.random() < 0.2)
        if pick < 0.8 and self._acked:
            # A retry of a stored event: acked as a duplicate, no second row.
            earlier = self.rng.choice(self._acked)
            body, _ = self._event_body(event_id=earlier)
            return Delivery(body, earlier)
        if pick < 0.9:
            # A Hypothesis value, classified as the README says the receiver does.
            body = self.rng.choice(self.pool)
            return Delivery(body, _usable_event_id(body))
        # Signed but unusable: kept raw as a dead letter.
        junk = self.rng.choice((b"", b"not json", mutate.nest_bomb(self.rng), b"[1,2]",
                                b'{"object_type": "email"}', mutate.mutate(self.rng, b"{}")))
        return Delivery(junk, _usable_event_id(junk))

    def signed_case(self, delivery: Delivery) -> Case:
        key = self.previous_key if delivery.use_previous_key else self.key
        headers = _signature_headers(key, str(int(time.time())), delivery.body)
        return Case(_post(SIGNED, headers, delivery.body), "valid", allowed=frozenset({200}),
                    tag=delivery)

    def follow_up(self, case: Case, answer: Answer) -> Case | None:
        """Book a valid delivery once acked; a 503 is retried (re-signed), as Customer.io does."""
        delivery = case.tag
        if not isinstance(delivery, Delivery):
            return None
        if answer.status == 503:
            return self.signed_case(delivery)
        if answer.status == 200:
            if delivery.event_id is not None:
                self.expected_events.add(delivery.event_id)
                self._acked.append(delivery.event_id)
            else:
                self.expected_dead_letters[delivery.body] += 1
        return None

    # -- everything else ----------------------------------------------------------------------

    def cases(self, total: int) -> Iterator[Case]:
        makers: list[tuple[float, Callable[[], Case]]] = [
            (14, self._body_changed_after_signing),
            (12, self._signature_variant),
            (10, self._timestamp_variant),
            (6, self._headers_missing),
            (4, self._repeated_headers),
            (6, self._wrong_key),
            (8, self._hypothesis_unsigned),
            (6, self._no_key_source),
            (6, self._unknown_source),
            (5, self._other_method),
            (4, self._other_path),
            (8, self._bad_framing),
            (3, self._big_headers),
            (2, self._declared_too_large),
            (1, self._bomb_unsigned),
        ]
        weights = [w for w, _ in makers]
        oversized_left = 24  # real >1 MiB bodies: 24 MiB in all, enough to see the 413 path
        for n in range(total):
            if n % VALID_EVERY == 0:
                self.sent_valid += 1
                yield self.signed_case(self._valid())
            elif n % 997 == 1 and oversized_left:
                oversized_left -= 1
                yield self._oversized()
            else:
                yield self.rng.choices(makers, weights)[0][1]()

    def new_delivery(self) -> Delivery:
        body, event_id = self._event_body()
        return Delivery(body, event_id)

    def _unsigned_body(self) -> bytes:
        return self._event_body()[0]

    def _body_changed_after_signing(self) -> Case:
        body = self._unsigned_body()
        headers = _signature_headers(self.key, str(int(time.time())), body)
        changed = mutate.mutate(self.rng, body)
        return Case(_post(SIGNED, headers, changed), "body-changed", allowed=REJECTED)

    def _signature_variant(self) -> Case:
        body = self._unsigned_body()
        ts = str(int(time.time()))
        good = cio_sign(self.key, ts, body).encode()
        variants = (
            good.upper(), good[:-1], good + b"0", good[1:] + good[:1], b"sha256=" + good,
            good + b"," + good, b"", b" ", b"\t", good[:32], good * 2, b"z" * 64,
            bytes(good[:10]) + b"\xff" + good[11:], b"v0=" + good,
            bytes(c ^ 1 if i == 5 else c for i, c in enumerate(good)),
            mutate.header_value(self.rng),
        )
        signature = self.rng.choice(variants)
        if signature.strip(b" \t") == good:  # never a header the receiver reads as valid
            signature = b"0" * 64
        headers = [(b"x-cio-timestamp", ts.encode()), (b"x-cio-signature", signature),
                   (b"content-type", b"application/json")]
        return Case(_post(SIGNED, headers, body), "signature", allowed=REJECTED_OR_UNPARSED)

    def _timestamp_variant(self) -> Case:
        body = self._unsigned_body()
        now = int(time.time())
        stale = self.rng.choice((now - WINDOW - 5 - self.rng.randrange(10**6),
                                 now + WINDOW + 5 + self.rng.randrange(10**6), 0, 1, 10**14))
        text = self.rng.choice((
            str(stale), f"+{now}", f"{now}.0", f"-{now}", f" {now}x", "0x10", "1e9", "",
            "9" * 40, f"{now}\u0660", "\u0661\u0662\u0663", f"{now} {now}", "NaN",
        ))
        raw = text.encode("utf-8")
        if self.rng.random() < 0.5:
            # Signed over the text sent: only the timestamp check can refuse it.
            signature = cio_sign(self.key, text, body)
        else:
            signature = cio_sign(self.key, str(now), body)  # over another timestamp
        headers = [(b"x-cio-timestamp", raw), (b"x-cio-signature", signature.encode())]
        return Case(_post(SIGNED, headers, body), "timestamp", allowed=REJECTED)

    def _headers_missing(self) -> Case:
        body = self._unsigned_body()
        ts = str(int(time.time()))
        signature = cio_sign(self.key, ts, body)
        headers = self.rng.choice((
            [(b"x-cio-timestamp", ts.encode())],
            [(b"x-cio-signature", signature.encode())],
            [],
            [(b"x-cio-timestamp-", ts.encode()), (b"x-cio-signature-", signature.encode())],
            [(b"x-cio-signature ", signature.encode()), (b"x-cio-timestamp", ts.encode())],
        ))
        return Case(_post(SIGNED, headers, body), "headers-missing", allowed=REJECTED_OR_UNPARSED,
                    fresh=True, no_answer_ok=True)

    def _repeated_headers(self) -> Case:
        """The first of a repeated header counts: a wrong one first must be refused."""
        body = self._unsigned_body()
        ts = str(int(time.time()))
        signature = cio_sign(self.key, ts, body).encode()
        headers = self.rng.choice((
            [(b"x-cio-signature", b"0" * 64), (b"x-cio-signature", signature),
             (b"x-cio-timestamp", ts.encode())],
            [(b"x-cio-timestamp", b"1"), (b"x-cio-timestamp", ts.encode()),
             (b"x-cio-signature", signature)],
        ))
        return Case(_post(SIGNED, headers, body), "repeated-headers", allowed=REJECTED)

    def _wrong_key(self) -> Case:
        body = self.rng.choice((self._unsigned_body(), self.rng.choice(self.events)))
        ts = str(int(time.time()))
        key = self.rng.choice((self.key[:-1], self.key.upper(), "", " " + self.key,
                               self.key + self.previous_key, self.rng.randbytes(32).hex()))
        headers = _signature_headers(key, ts, body)
        return Case(_post(SIGNED, headers, body), "wrong-key", allowed=REJECTED)

    def _hypothesis_unsigned(self) -> Case:
        body = self.rng.choice(self.pool)
        if self.rng.random() < 0.5:
            body = mutate.mutate(self.rng, body)
        headers: list[Header] = [(b"content-type", b"application/json")]
        if self.rng.random() < 0.5:
            headers.append((b"x-cio-timestamp", str(int(time.time())).encode()))
        return Case(_post(SIGNED, headers, body), "hypothesis-unsigned", allowed=REJECTED)

    def _no_key_source(self) -> Case:
        body = self.rng.choice((self._unsigned_body(), self.rng.choice(self.values)))
        headers = _signature_headers(self.key, str(int(time.time())), body)
        return Case(_post(NO_KEY, headers, body), "no-key-source",
                    allowed=frozenset({200}))

    def _unknown_source(self) -> Case:
        name = self.rng.choice((
            "acme2", "ACME", "acme ", "nokey_", "a" * 300, "..", "%2e%2e", "acme%2Fx",
            "%00", "%ff%fe", quote("ünïcödé"), "acme;x", "acme?x=1", "acme#x", "%20acme",
        ))
        body = self._unsigned_body()
        # Signed with a wrong key: "acme?x=1" and "acme#x" still name acme (then 401).
        headers = _signature_headers(self.previous_key[::-1], str(int(time.time())), body)
        target = b"/webhooks/customerio/" + name.encode()
        return Case(request(b"POST", target, headers, body), "unknown-source", fresh=True,
                    allowed=ROUTED_AWAY | REJECTED, no_answer_ok=True)

    def _other_method(self) -> Case:
        method = self.rng.choice((b"GET", b"HEAD", b"PUT", b"DELETE", b"PATCH", b"OPTIONS",
                                  b"TRACE", b"PROPFIND", b"post", b"P\xc3\xb6ST", b"CONNECT"))
        body = self._unsigned_body()
        headers = _signature_headers(self.key, str(int(time.time())), body)
        raw = request(method, b"/webhooks/customerio/" + SIGNED.encode(), headers, body)
        return Case(raw, "method", head=method == b"HEAD", allowed=ROUTED_AWAY, fresh=True,
                    no_answer_ok=True)

    def _other_path(self) -> Case:
        target = self.rng.choice((
            b"/", b"/webhooks", b"/webhooks/customerio", b"/webhooks/customerio/",
            b"/webhooks/customerio/acme/", b"/webhooks/customerio/acme/extra",
            b"//webhooks/customerio/acme", b"/webhooks//customerio/acme",
            b"/webhooks/customerio/../customerio/acme", b"/docs", b"/openapi.json",
            b"/webhooks/customerio/acme" + b"/x" * 2000, b"/" + b"%" * 100,
        ))
        body = self._unsigned_body()
        headers = _signature_headers(self.key[::-1], str(int(time.time())), body)
        return Case(request(b"POST", target, headers, body), "path",
                    allowed=ROUTED_AWAY | REJECTED)

    def _bad_framing(self) -> Case:
        """Bytes the HTTP parser must refuse or read safely; bodies are never signed."""
        body = mutate.mutate(self.rng, self._unsigned_body())
        target = b"/webhooks/customerio/" + self.rng.choice((SIGNED, NO_KEY)).encode()
        head = b"POST " + target + b" HTTP/1.1\r\nhost: x\r\n"
        if self.rng.random() < 0.3:  # truncated: Content-Length larger than the body, then EOF
            raw = head + b"content-length: %d\r\n\r\n" % (len(body) + 100) + body
            return Case(raw, "truncated", fresh=True, half_close=True, no_answer_ok=True)
        raw = self.rng.choice((
            head + b"content-length: abc\r\n\r\n" + body,
            head + b"content-length: -1\r\n\r\n" + body,
            head + b"content-length: 99999999999999999999999\r\n\r\n" + body,
            head + b"content-length: 5\r\ncontent-length: 50\r\n\r\n" + body,
            head + b"transfer-encoding: chunked\r\ncontent-length: 3\r\n\r\nzz\r\n" + body,
            head + b"transfer-encoding: chunked\r\n\r\nfffffffffffffff\r\n" + body,
            head + b"transfer-encoding: chunked\r\n\r\n5\r\nab\r\n0\r\n\r\n",
            head + b"transfer-encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
            b"POST " + target + b" HTTP/1.1\nhost: x\ncontent-length: 2\n\n{}",
            b"POST " + target + b" HTTP/9.9\r\ncontent-length: 2\r\n\r\n{}",
            b"POST " + target + b"\r\n\r\n",
            head + b"no colon here\r\ncontent-length: 2\r\n\r\n{}",
            head + b"x-a: 1\r\n folded: 2\r\ncontent-length: 2\r\n\r\n{}",
            head + b"x-nul: a\x00b\r\ncontent-length: 2\r\n\r\n{}",
            mutate.mutate(self.rng, head + b"content-length: 2\r\n\r\n{}"),
        ))
        return Case(raw, "framing", fresh=True, half_close=True, no_answer_ok=True)

    def _big_headers(self) -> Case:
        body = self._unsigned_body()
        headers = _signature_headers(self.key, str(int(time.time())), b"other" + body)
        if self.rng.random() < 0.5:
            headers.append((b"x-big", b"b" * self.rng.choice((8_000, 64_000, 300_000))))
        else:
            headers += [(b"x-h%d" % i, b"v") for i in range(self.rng.choice((100, 2_000)))]
        headers.append((self.rng.choice((b"user-agent", b"cookie", b"x-odd")),
                        mutate.header_value(self.rng)))
        return Case(_post(SIGNED, headers, body), "big-headers", fresh=True,
                    allowed=REJECTED | {400, 413, 431}, no_answer_ok=True)

    def _declared_too_large(self) -> Case:
        body = self._unsigned_body()
        declared = self.rng.choice((MAX_BODY + 1, 10 * MAX_BODY, 2**62))
        raw = request(b"POST", b"/webhooks/customerio/" + SIGNED.encode(),
                      _signature_headers(self.key, str(int(time.time())), body), body,
                      content_length=declared)
        # Answered before the body is read; the EOF right behind may win the race.
        return Case(raw, "declared-too-large", fresh=True, half_close=True,
                    allowed=frozenset({413}), no_answer_ok=True)

    def _oversized(self) -> Case:
        body = b'{"event_id": "big", "object_type": "email", "pad": "' + b"p" * MAX_BODY + b'"}'
        headers = _signature_headers(self.key, str(int(time.time())), body)
        if self.rng.random() < 0.5:
            raw = request(b"POST", b"/webhooks/customerio/" + SIGNED.encode(), headers, body,
                          content_length=AUTO)
        else:  # chunked: no length to refuse up front, counted as it arrives
            chunks = b"".join(b"%x\r\n" % len(part) + part + b"\r\n"
                              for part in (body[i:i + 65536] for i in range(0, len(body), 65536)))
            raw = request(b"POST", b"/webhooks/customerio/" + SIGNED.encode(),
                          [*headers, (b"transfer-encoding", b"chunked")], chunks + b"0\r\n\r\n",
                          content_length=None)
        return Case(raw, "oversized", fresh=True, allowed=frozenset({413}), no_answer_ok=True)

    def _bomb_unsigned(self) -> Case:
        body = mutate.nest_bomb(self.rng)
        headers = [(b"x-cio-timestamp", str(int(time.time())).encode()),
                   (b"x-cio-signature", b"0" * 64)]
        return Case(_post(SIGNED, headers, body), "bomb", allowed=REJECTED)


def _post(source: str, headers: list[Header], body: bytes) -> bytes:
    return request(b"POST", b"/webhooks/customerio/" + source.encode(), headers, body)


def _signature_headers(key: str, timestamp: str, body: bytes) -> list[Header]:
    return [(b"x-cio-timestamp", timestamp.encode()),
            (b"x-cio-signature", cio_sign(key, timestamp, body).encode()),
            (b"content-type", b"application/json")]


def _usable_event_id(body: bytes) -> str | None:
    """The README's rule: an event is a JSON object with a string event_id and object_type
    (strict UTF-8); anything else signed is a dead letter."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(payload, dict):
        return None
    event_id, object_type = payload.get("event_id"), payload.get("object_type")
    if isinstance(event_id, str) and event_id and isinstance(object_type, str) and object_type:
        return event_id
    return None


def encode_all(values: list[object], rng: random.Random) -> list[bytes]:
    return [encode(value, rng) for value in values]
