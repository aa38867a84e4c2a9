"""server_durability.py — the lab server's state changes are whole transactions: concurrent
reviews of one request (exactly one wins, the rest get 409), and a `kill -9` of the server in the
middle of a stream of submissions (after a restart the database passes SQLite's integrity check,
every stored request has exactly its one history entry, every submission answered 201 is there,
and the next request works)."""
import os
import shutil
import signal
import subprocess
import threading

from server_lib import PASSWORDS, REVIEW, Client, Server, check, finish, make_lab, new_request

data, member_a, member_b = make_lab()
server = Server(data, "--threads", "4")
alice = Client(server, "alice", PASSWORDS["alice"])
reviewers = [Client(server, login, PASSWORDS[login]) for login in ("rita", "arno", "ada")]


def sql(query):
    r = subprocess.run(["sqlite3", "-cmd", ".timeout 10000", os.path.join(data, "server.sqlite"), query], capture_output=True, text=True)
    return r.stdout.strip()


# --- concurrent decisions on one request ---------------------------------------------------------------
for round_ in range(3):
    rid = new_request(alice)
    statuses = []
    lock = threading.Lock()

    def decide(client, verb):
        body = REVIEW if verb == "accept" else {"reason": "no capacity"}
        st = client.call("POST", f"/api/v1/requests/{rid}/{verb}", body)[0]
        with lock:
            statuses.append(st)

    threads = [threading.Thread(target=decide, args=(reviewers[i % 3], "accept" if i % 2 else "reject"))
               for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    check(sorted(statuses) == [200] + [409] * 11, f"round {round_}: concurrent decisions {sorted(statuses)}")
    events = sql(f"SELECT count(*) FROM request_events WHERE request_id = {rid} AND action != 'submitted'")
    check(events == "1", f"round {round_}: {events} decision events")

# --- kill -9 during a stream of submissions ---------------------------------------------------------------
answered = []
stop = threading.Event()


def submit_forever(n):
    i = 0
    while not stop.is_set():
        i += 1
        try:
            st, _, body = alice.call("POST", "/api/v1/requests", {
                "material": f"stream {n}-{i}", "methods": ["ISO 1133-1"], "specimens": 1,
                "due_date": "2099-06-30", "decision_rule_agreed": True})
        except Exception:
            return  # the server is gone
        if st == 201:
            answered.append(body["material"])


workers = [threading.Thread(target=submit_forever, args=(n,)) for n in range(3)]
for w in workers:
    w.start()
for _ in range(6000):  # let some submissions land (at most a minute), then kill the server mid-stream
    if len(answered) >= 30 or not any(w.is_alive() for w in workers):
        break
    threading.Event().wait(0.01)
check(len(answered) >= 30, f"only {len(answered)} submissions answered before the kill")
server.proc.send_signal(signal.SIGKILL)
server.proc.wait()
stop.set()
for w in workers:
    w.join()
server.log.close()
server.err.close()

check(sql("PRAGMA integrity_check") == "ok", "integrity check after kill -9")
stored = set(sql("SELECT material FROM requests WHERE material LIKE 'stream %'").splitlines())
check(set(answered) <= stored, f"{len(set(answered) - stored)} answered submissions lost")
orphans = sql("SELECT count(*) FROM requests r WHERE (SELECT count(*) FROM request_events e "
              "WHERE e.request_id = r.id AND e.action = 'submitted') != 1")
check(orphans == "0", f"{orphans} requests without exactly one 'submitted' entry after kill -9")
again = Server(data)
alice2 = Client(again, "alice", PASSWORDS["alice"])
rid = new_request(alice2, "after the crash")
st, _, body = Client(again, "rita", PASSWORDS["rita"]).call("POST", f"/api/v1/requests/{rid}/accept", REVIEW)
check(st == 200 and body["state"] == "accepted", f"accept after restart: {st}")
check(again.stop() == 0, "serve exit status after restart")
print(f"{len(answered)} submissions answered before kill -9, {len(stored)} stored")
shutil.rmtree(data)
finish()
