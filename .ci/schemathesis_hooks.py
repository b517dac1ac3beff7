"""Schemathesis hooks for the concert reservation API: live credentials, a concert to reach, and
the one rule of the document JSON Schema cannot state.

The run needs a live ACTIVE queue token, yet fuzzed requests end tokens (leaving the queue, paying)
and may narrow the gate to one active token (`PUT /admin/queue`). The auth provider below
registers a fan and takes a fresh token whenever the one it holds is dead, widening the gate first
so the new token is ACTIVE at once. It also sends the admin key where an operation asks for it.

A drawn concertId names no concert, so seat maps and holds would only ever be 404: half of the
cases meant to be valid name a concert made for the run instead. The operations of a sale name
another concert made for the run, so that a sale set on it leaves the first concert's seats to the
site-wide token.

`.ci/fuzz-openapi` runs them. By hand, against a server started with an admin key:
`CONCERT_BASE_URL=http://127.0.0.1:8080 CONCERT_ADMIN_KEY=... st --config-file .ci/schemathesis.toml
run http://127.0.0.1:8080/openapi.json --checks all`.
"""

import datetime
import os
import threading
import zlib

import requests
import schemathesis

BASE_URL = os.environ["CONCERT_BASE_URL"].rstrip("/")
ADMIN_KEY = os.environ["CONCERT_ADMIN_KEY"]
# Wide enough that whatever a fuzzed request set, the provider's token is admitted at once.
ACTIVE_MAX = 1_000_000
# A token is issued ACTIVE unless a fuzzed request narrowed the gate in between; a few tries
# ride that out.
ADMISSION_TRIES = 5
TIMEOUT_SECONDS = 10
# The concert made for the run: two dates of few enough seats that drawn seat numbers find them.
CONCERT = {
    "title": "Schemathesis",
    "dates": [
        {"date": "2026-12-24", "seatCount": 50, "price": 1_000},
        {"date": "2026-12-25", "seatCount": 50, "price": 2_000},
    ],
}


def _call(method, path, **kwargs):
    return requests.request(method, f"{BASE_URL}{path}", timeout=TIMEOUT_SECONDS, **kwargs)


def _widen_gate():
    response = _call("PUT", "/api/v1/admin/queue", json={"activeMax": ACTIVE_MAX}, headers={"X-Admin-Key": ADMIN_KEY})
    response.raise_for_status()


def _status_of(token):
    """The token's queue status, or None once it is dead."""
    response = _call("GET", "/api/v1/queue/tokens/me", headers={"Authorization": f"Bearer {token}"})
    if response.status_code == 401:
        return None
    response.raise_for_status()
    return response.json()["status"]


def _fresh_active_token():
    _widen_gate()
    user = _call("POST", "/api/v1/users", json={"name": "schemathesis"})
    user.raise_for_status()
    issued = _call("POST", "/api/v1/queue/tokens", json={"userId": user.json()["userId"]})
    issued.raise_for_status()
    token = issued.json()["token"]
    for _ in range(ADMISSION_TRIES):
        if _status_of(token) == "ACTIVE":
            return token
        # Widening the gate admits waiting tokens at once.
        _widen_gate()
    raise RuntimeError("a fresh token was not admitted")


def _security_schemes(operation):
    requirements = operation.definition.raw.get("security") or []
    return {name for requirement in requirements for name in requirement}


@schemathesis.auth()
class ConcertAuth:
    """A live ACTIVE queue token, and the admin key, for the operations that ask for them.

    Schemathesis calls `get` on its first case, every refresh interval, and after an answer of 401
    to a case carrying these credentials; a token still ACTIVE is kept, a dead one replaced.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._token = None

    def get(self, case, context):
        with self._lock:
            if self._token is None or _status_of(self._token) != "ACTIVE":
                self._token = _fresh_active_token()
            return self._token

    def set(self, case, token, context):
        schemes = _security_schemes(case.operation)
        if "queueToken" in schemes:
            case.headers = case.headers or {}
            case.headers["Authorization"] = f"Bearer {token}"
        if "queueTokenQuery" in schemes:
            case.query = case.query or {}
            case.query["token"] = token
        if "adminKey" in schemes:
            case.headers = case.headers or {}
            case.headers["X-Admin-Key"] = ADMIN_KEY


@schemathesis.hook("map_case").apply_to(method="POST", path="/api/v1/admin/concerts")
def distinct_concert_dates(context, case):
    """A concert may have a date once; JSON Schema's `uniqueItems` can only say that of whole
    items. A case meant to be valid keeps the first item of each date (in a copy, since cases
    share the containers they were drawn in)."""
    if case.meta is None or not case.meta.generation.mode.is_positive or not isinstance(case.body, dict):
        return case
    dates = case.body.get("dates")
    if not isinstance(dates, list):
        return case
    seen = set()
    distinct = []
    for item in dates:
        date = item.get("date") if isinstance(item, dict) else None
        if date in seen:
            continue
        seen.add(date)
        distinct.append(item)
    case.body = {**case.body, "dates": distinct}
    return case


def _instant(text):
    """An RFC 3339 time as a comparable instant; one Python cannot read compares as the earliest."""
    try:
        return datetime.datetime.fromisoformat(text.replace("z", "Z")).timestamp()
    except ValueError:
        return float("-inf")


@schemathesis.hook("map_case").apply_to(method="PUT", path="/api/v1/admin/concerts/{concertId}/sale")
def a_sale_that_makes_sense(context, case):
    """JSON Schema cannot say that the pre-queue opens no later than the sale, nor that refund
    steps run from the most days before to the fewest with fees no lower: a case meant to be
    valid is put in that order (in a copy, since cases share the containers they were drawn in)."""
    if case.meta is None or not case.meta.generation.mode.is_positive or not isinstance(case.body, dict):
        return case
    body = dict(case.body)
    times = (body.get("prequeueOpensAt"), body.get("opensAt"))
    if all(isinstance(time, str) for time in times) and _instant(times[0]) > _instant(times[1]):
        body["prequeueOpensAt"], body["opensAt"] = times[1], times[0]
    steps = body.get("refundPolicy")
    if isinstance(steps, list) and all(isinstance(step, dict) for step in steps):
        by_days = {}
        for step in steps:
            by_days.setdefault(step.get("untilDaysBefore"), step)
        ordered = sorted(by_days.values(), key=lambda step: -step.get("untilDaysBefore", 0))
        fee = 0
        body["refundPolicy"] = []
        for step in ordered:
            fee = max(fee, step.get("feePercent", 0))
            body["refundPolicy"].append({**step, "feePercent": fee})
    case.body = body
    return case


_concert_lock = threading.Lock()
_concert_ids = {}

# The concert a sale may be set on: another than the one whose seats the site-wide token holds.
SALE_CONCERT = {
    "title": "Schemathesis on sale",
    "dates": [{"date": "2026-12-31", "seatCount": 50, "price": 3_000}],
}


def _concert(which=None):
    """The id of a concert made for the run (`CONCERT` unless `which` is given), made on first use."""
    which = which or CONCERT
    with _concert_lock:
        if which["title"] not in _concert_ids:
            response = _call("POST", "/api/v1/admin/concerts", json=which, headers={"X-Admin-Key": ADMIN_KEY})
            response.raise_for_status()
            _concert_ids[which["title"]] = response.json()["concertId"]
        return _concert_ids[which["title"]]


def _pick(drawn, choices):
    """One of `choices`, or None, decided by the drawn value alone so that a replayed case is the same."""
    index = zlib.crc32(repr(drawn).encode()) % (2 * len(choices))
    return choices[index] if index < len(choices) else None


@schemathesis.hook("map_case")
def a_real_concert_half_the_time(context, case):
    """Half of the valid cases that name a concert name the run's concert, one of its dates and,
    in a hold, one of its seats. Copies, since cases share the containers they were drawn in."""
    if case.meta is None or not case.meta.generation.mode.is_positive:
        return case
    if "/sale" in case.operation.path or case.operation.path.endswith("/queue/tokens"):
        if isinstance(case.path_parameters, dict) and "concertId" in case.path_parameters:
            if _pick(case.path_parameters["concertId"], [True]):
                case.path_parameters = {**case.path_parameters, "concertId": _concert(SALE_CONCERT)}
        return case
    if isinstance(case.path_parameters, dict):
        case.path_parameters = _with_real_concert(case.path_parameters)
    if isinstance(case.body, dict):
        case.body = _with_real_concert(case.body)
    return case


def _with_real_concert(values):
    if "concertId" not in values:
        return values
    date = _pick(values["concertId"], [date["date"] for date in CONCERT["dates"]])
    if date is None:
        return values
    values = {**values, "concertId": _concert()}
    if "date" in values:
        values["date"] = date
    if isinstance(values.get("seatNumber"), int):
        seats = next(d["seatCount"] for d in CONCERT["dates"] if d["date"] == date)
        values["seatNumber"] = 1 + values["seatNumber"] % seats
    return values
