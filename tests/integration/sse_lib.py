"""sse_lib.py — the station tests' shared pieces: the demo station lab served with a request
accepted and its items received (`station_lab`), and a series' live stream as the tests read it: GET /api/v1/series/{id}/events
(Server-Sent Events) on a thread of its own, every event kept in order until the server ends the
stream (its type and content checked against docs/openapi.yaml), and waiting for a condition
with a ceiling that only guards against a hang on a loaded machine — never a timing check."""
import http.client
import json
import os
import threading
import time

import sys

from server_lib import API, PASSWORDS, REVIEW, SOURCE, Client, Server, check, fail, make_lab, new_request

CEILING = 120  # seconds
STATION_LAB = os.path.join(SOURCE, "config", "station-demo.yaml")


class Stream(threading.Thread):
    def __init__(self, client, sid):
        super().__init__(daemon=True)
        self.conn = http.client.HTTPConnection("127.0.0.1", client.server.port, timeout=CEILING)
        self.conn.request("GET", f"/api/v1/series/{sid}/events", headers={"Cookie": "pd_session=" + client.cookie})
        self.resp = self.conn.getresponse()
        self.status = self.resp.status
        self.ctype = self.resp.getheader("Content-Type", "")
        self.events = []
        self.ended = False
        self.error = None
        if self.status == 200:
            API.validate("GET", f"/api/v1/series/{sid}/events", 200, b"", self.ctype.split(";")[0])
        self.start()

    def run(self):
        try:
            while self.status == 200:
                line = self.resp.readline()
                if not line:
                    break
                if line.startswith(b"data: "):
                    self.events.append(json.loads(line[6:]))
        except Exception as e:  # noqa: BLE001 (reported by the test, not swallowed)
            self.error = repr(e)
        self.ended = True
        self.conn.close()

    def of(self, kind):
        return [e for e in list(self.events) if e["type"] == kind]

    def points(self, specimen):
        return sum(len(e["x"]) for e in self.of("points") if e["specimen"] == specimen)

    def state(self):
        states = self.of("state")
        return (states[-1]["specimen"], states[-1]["state"]) if states else (0, None)


def wait_for(pred, what):
    end = time.monotonic() + CEILING
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.05)
    fail(f"{what}: not within {CEILING} s")
    return False


def station_lab(material, count, description, storage):
    """`polydaq serve --lab config/station-demo.yaml` on a new data folder; member alice's request
    for `material` accepted by rita and its `count` items received by technician tessa. Returns
    (data folder, server, {login: Client}, request id, item ids)."""
    data, _, _ = make_lab()
    server = Server(data, "--lab", STATION_LAB)
    people = {who: Client(server, who, PASSWORDS[who]) for who in ("alice", "rita", "tessa")}
    req = new_request(people["alice"], material)
    assert people["rita"].call("POST", f"/api/v1/requests/{req}/accept", REVIEW)[0] == 200
    st, _, body = people["tessa"].call("POST", f"/api/v1/requests/{req}/items", {
        "count": count, "description": description, "condition": "as expected", "conforming": True,
        "storage": storage})
    assert st == 201, (st, body)
    return data, server, people, req, [i["item_id"] for i in body["items"]]


def start_series(server, technician, req, items, method, instrument):
    """Starts a series of `method` on `instrument` for the request's items (201, else the test ends
    here with the server stopped) and opens its stream. Returns (series id, stream, its hello)."""
    st, _, series = technician.call("POST", "/api/v1/series", {"request_id": req, "item_ids": items,
                                                               "method": method, "instrument": instrument})
    if not check(st == 201, f"a {method} series started on {instrument}: {st} {series}"):
        server.stop()
        sys.exit(1)
    stream = Stream(technician, series["id"])
    check(stream.status == 200, f"the stream: {stream.status}")
    wait_for(lambda: stream.of("hello"), "the hello")
    hellos = stream.of("hello")
    return series["id"], stream, hellos[0] if hellos else {}
