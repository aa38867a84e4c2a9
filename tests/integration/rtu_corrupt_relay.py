#!/usr/bin/python3
"""rtu_corrupt_relay.py — a Modbus RTU line between two ptys that garbles the CRC of chosen replies.

Requests (master side → slave side) are copied byte for byte as they come. Replies are gathered
into frames the way an RTU receiver sees them, delimited by silence (--gap-ms without a byte), and
forwarded whole; a reply that is chosen has one bit of its last byte, the high CRC byte,
flipped. Chosen are, among the replies to function 04 (read input registers: the poll), every
--every-th and the --burst consecutive ones starting at number --burst-at (counting from 1), and
among the replies to writes (functions 06 and 16: commands and setpoints) number --garble-write.
The number of replies garbled is written to --count-file (atomically) when the relay stops, so a
test can compare it with what the master counted; no file I/O happens while relaying, as a slow
write would delay the reply past the master's response timeout. Standard library only; stops on
SIGTERM/SIGINT or when a pty goes away.

usage: rtu_corrupt_relay.py --master PTY --slave PTY --count-file PATH
                            [--every N] [--burst-at N] [--burst N] [--garble-write N]
                            [--gap-ms MS]
Prints `relaying MASTER <-> SLAVE` on stdout once both ptys are open.
"""
import argparse
import errno
import os
import select
import signal
import sys
import termios
import time
import tty

READ_INPUT_REGISTERS = 0x04
WRITE_SINGLE = 0x06
WRITE_MULTIPLE = 0x10


class Stop(Exception):
    """Raised by the signal handler so a blocking select() ends at once."""


def on_signal(signum, frame):
    raise Stop()


def open_raw(path):
    fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    tty.setraw(fd, termios.TCSANOW)
    attrs = termios.tcgetattr(fd)
    attrs[3] &= ~termios.ECHO
    termios.tcsetattr(fd, termios.TCSANOW, attrs)
    return fd


def write_all(fd, data):
    view = memoryview(data)
    while view:
        try:
            n = os.write(fd, view)
        except BlockingIOError:
            select.select([], [fd], [], 0.05)
            continue
        view = view[n:]


class Garbler:
    """Decides, reply by reply, which replies get a broken CRC, and counts them."""

    def __init__(self, every, burst_at, burst, garble_write, count_file):
        self.every = every
        self.burst_at = burst_at
        self.burst = burst
        self.garble_write = garble_write
        self.count_file = count_file
        self.polls = 0
        self.writes = 0
        self.garbled = 0
        self.frames = 0
        self.save()

    def save(self):
        tmp = self.count_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(f"{self.garbled}\n")
        os.replace(tmp, self.count_file)

    def poll_chosen(self):
        if self.every > 0 and self.polls % self.every == 0:
            return True
        return self.burst > 0 and self.burst_at <= self.polls < self.burst_at + self.burst

    def frame(self, data):
        self.frames += 1
        chosen = False
        # normal (not exception) answers: to 04 unit, 04, byte count, data, CRC; to 06 and 16 an
        # echo of address and value/count, 8 bytes in all
        if len(data) >= 5 and data[1] == READ_INPUT_REGISTERS and len(data) == 5 + data[2]:
            self.polls += 1
            chosen = self.poll_chosen()
        elif len(data) == 8 and data[1] in (WRITE_SINGLE, WRITE_MULTIPLE):
            self.writes += 1
            chosen = self.writes == self.garble_write
        if not chosen:
            return data
        garbled = bytearray(data)
        garbled[-1] ^= 0x01
        self.garbled += 1
        return bytes(garbled)


def relay(master, slave, garbler, gap):
    """Copies until a pty goes away; replies are forwarded once the line falls silent."""
    reply = bytearray()
    last_byte = 0.0
    while True:
        timeout = None
        if reply:
            timeout = max(0.0, last_byte + gap - time.monotonic())
        ready, _, _ = select.select([master, slave], [], [], timeout)
        try:
            if master in ready:
                data = os.read(master, 4096)
                if not data:
                    return
                write_all(slave, data)
            if slave in ready:
                data = os.read(slave, 4096)
                if not data:
                    return
                reply += data
                last_byte = time.monotonic()
        except BlockingIOError:
            pass
        except OSError as e:
            # EIO: the other end of a pty pair closed for a moment (the master reopening its
            # port); wait for it instead of spinning
            if e.errno == errno.EIO:
                time.sleep(0.01)
                continue
            raise
        if reply and time.monotonic() - last_byte >= gap:
            write_all(master, garbler.frame(bytes(reply)))
            reply.clear()


def main():
    ap = argparse.ArgumentParser(description="Modbus RTU relay that garbles reply CRCs")
    ap.add_argument("--master", required=True, help="pty the Modbus master talks through")
    ap.add_argument("--slave", required=True, help="pty the Modbus slave answers on")
    ap.add_argument("--count-file", required=True)
    ap.add_argument("--every", type=int, default=40, help="garble every N-th poll reply (0: none)")
    ap.add_argument("--burst-at", type=int, default=0, help="first poll reply of the burst (1-based)")
    ap.add_argument("--burst", type=int, default=0, help="consecutive poll replies garbled there")
    ap.add_argument("--garble-write", type=int, default=0,
                    help="garble the N-th reply to a write, 1-based (0: none)")
    ap.add_argument("--gap-ms", type=float, default=2.0, help="silence that ends a reply frame")
    args = ap.parse_args()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    master = open_raw(args.master)
    slave = open_raw(args.slave)
    garbler = Garbler(args.every, args.burst_at, args.burst, args.garble_write, args.count_file)
    print(f"relaying {args.master} <-> {args.slave}", flush=True)
    try:
        relay(master, slave, garbler, args.gap_ms / 1000.0)
    except Stop:
        pass
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second signal must not cut the count short
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        garbler.save()
    print(f"relay: {garbler.frames} reply frames, {garbler.polls} poll replies, "
          f"{garbler.writes} write replies, {garbler.garbled} garbled", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
