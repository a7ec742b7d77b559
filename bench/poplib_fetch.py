"""Python's poplib fetching a whole mailbox into a Maildir, for the pop3 benchmark.

STLS, USER/PASS, UIDL, then RETR each message serially (poplib has no pipelining). Each
message is written like `pop3 fetch` writes it: LF line ends, tmp/ + fsync + rename into
new/, and new/ fsynced at the end.

    POP3_PASSWORD=... python3 bench/poplib_fetch.py HOST PORT USER CA_FILE MAILDIR
"""
import os
import poplib
import socket
import ssl
import sys
import time

host, port, user, ca_file, maildir = sys.argv[1:6]
password = os.environ.get("POP3_PASSWORD", "")

for sub in ("tmp", "new", "cur"):
    os.makedirs(os.path.join(maildir, sub), mode=0o700, exist_ok=True)

context = ssl.create_default_context(cafile=ca_file)
pop = poplib.POP3(host, int(port))
pop.stls(context=context)
pop.user(user)
pop.pass_(password)
_, listing, _ = pop.uidl()

hostname = socket.gethostname()
pid = os.getpid()
for counter, line in enumerate(listing, start=1):
    msg = int(line.split()[0])
    _, lines, _ = pop.retr(msg)
    data = b"\n".join(lines) + b"\n"
    name = "%d.P%dQ%d.%s" % (int(time.time()), pid, counter, hostname)
    tmp = os.path.join(maildir, "tmp", name)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.rename(tmp, os.path.join(maildir, "new", name))

fd = os.open(os.path.join(maildir, "new"), os.O_RDONLY)
try:
    os.fsync(fd)
finally:
    os.close(fd)
pop.quit()
