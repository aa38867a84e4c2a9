"""smtp_sink.py — a local SMTP relay for the mail tests (Debian's python3-aiosmtpd): every message
it accepts is written to DIR as N.json with its envelope (MAIL FROM, RCPT TO) and raw content.
Usage: smtp_sink.py PORT DIR; runs until SIGTERM."""
import json
import os
import signal
import sys
import threading

from aiosmtpd.controller import Controller

port, folder = int(sys.argv[1]), sys.argv[2]
lock = threading.Lock()


class Sink:
    async def handle_DATA(self, server, session, envelope):
        with lock:
            n = len([f for f in os.listdir(folder) if f.endswith(".json")]) + 1
            tmp = os.path.join(folder, f"{n}.tmp")
            with open(tmp, "w") as f:
                json.dump({"mail_from": envelope.mail_from, "rcpt_tos": envelope.rcpt_tos,
                           "content": envelope.original_content.decode("utf-8")}, f)
            os.rename(tmp, os.path.join(folder, f"{n}.json"))
        return "250 OK"


controller = Controller(Sink(), hostname="127.0.0.1", port=port)
controller.start()
print("ready", flush=True)
stop = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: stop.set())
stop.wait()
controller.stop()
