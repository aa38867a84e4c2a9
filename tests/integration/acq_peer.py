#!/usr/bin/python3
"""acq_peer.py — a scripted Modbus TCP instrument that misbehaves in one chosen way, started by
`polydaq run` in place of a simulator (its config's `simulator:` program), so tests see how a run
ends when an instrument answers but never with data.

usage: acq_peer.py MODE COUNTS.json --tcp HOST:PORT   (port 0: pick one)
Prints "listening tcp://HOST:PORT" like polydaq-sim, then serves one connection at a time:
  exception   every request gets exception 04 (server device failure)
  reads-fail  reads of the measurement tables (input registers, discrete inputs, coils) get exception
              02 (illegal data address, as for a mistyped address); holding registers are written and
              read back as a real device would
  busy        every request gets exception 06 (server busy)
  close       each request is read, then the connection is closed without an answer
  silent      requests are read and never answered
On SIGTERM (how polydaq stops a simulator) it writes what it sent to COUNTS.json: the requests it
read by function code, and the exception replies by exception code — the tests' independent count
of what the driver must have seen.
"""
import json
import signal
import socket
import struct
import sys

MEASUREMENT_READS = (1, 2, 4)

mode, counts_path = sys.argv[1], sys.argv[2]
if mode not in ("exception", "reads-fail", "busy", "close", "silent") or sys.argv[3] != "--tcp":
    sys.exit("acq_peer.py: usage: MODE COUNTS.json --tcp HOST:PORT")
host, port = sys.argv[4].rsplit(":", 1)
counts = {"requests": {}, "exceptions": {}, "closed": 0}


def save_and_exit(*_):
    with open(counts_path, "w") as f:
        json.dump(counts, f)
    sys.exit(0)


signal.signal(signal.SIGTERM, save_and_exit)


def recv_exact(conn, n):
    buf = b""
    while len(buf) < n:
        part = conn.recv(n - len(buf))
        if not part:
            return None
        buf += part
    return buf


holding = {}  # address -> value, so a control's read-back verification succeeds


def reply_ok(fc, pdu):
    """A well-formed answer: holding registers as written, zeros for other reads, the usual echo
    for writes."""
    if fc == 6:
        addr, value = struct.unpack(">HH", pdu[1:5])
        holding[addr] = value
    if fc == 16:
        addr, qty = struct.unpack(">HH", pdu[1:5])
        for i in range(qty):
            holding[addr + i] = struct.unpack(">H", pdu[6 + 2 * i:8 + 2 * i])[0]
    if fc == 3:
        addr, qty = struct.unpack(">HH", pdu[1:5])
        return bytes([fc, 2 * qty]) + b"".join(struct.pack(">H", holding.get(addr + i, 0)) for i in range(qty))
    if fc in (3, 4):
        qty = struct.unpack(">H", pdu[3:5])[0]
        return bytes([fc, 2 * qty]) + bytes(2 * qty)
    if fc in (1, 2):
        qty = struct.unpack(">H", pdu[3:5])[0]
        n = (qty + 7) // 8
        return bytes([fc, n]) + bytes(n)
    if fc in (5, 6):
        return pdu[:5]
    if fc in (15, 16):
        return pdu[:5]
    return None  # anything else: illegal function


def serve(conn):
    while True:
        head = recv_exact(conn, 7)
        if head is None:
            return
        tid, _, length, unit = struct.unpack(">HHHB", head)
        pdu = recv_exact(conn, length - 1)
        if pdu is None:
            return
        fc = pdu[0]
        key = str(fc)
        counts["requests"][key] = counts["requests"].get(key, 0) + 1
        if mode == "close":
            counts["closed"] += 1
            return
        if mode == "silent":
            continue
        answer = None
        code = 0
        if mode == "exception":
            code = 4
        elif mode == "busy":
            code = 6
        elif fc in MEASUREMENT_READS:
            code = 2
        else:
            answer = reply_ok(fc, pdu)
            if answer is None:
                code = 1
        if code:
            counts["exceptions"][str(code)] = counts["exceptions"].get(str(code), 0) + 1
            answer = bytes([fc | 0x80, code])
        conn.sendall(struct.pack(">HHHB", tid, 0, len(answer) + 1, unit) + answer)


srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind((host, int(port)))
srv.listen(4)
print("listening tcp://%s:%d" % srv.getsockname(), flush=True)
while True:
    c, _ = srv.accept()
    try:
        serve(c)
    except (ConnectionError, OSError):
        pass
    finally:
        c.close()
