#!/usr/bin/python3
"""Verify the DKIM signatures of a message with dkimpy (Debian's
python3-dkim), an implementation independent of mailsift's, asking the test
DNS server for the keys.

usage: dkimverify.py HOST:PORT MESSAGE-FILE
Prints one line per signature: "pass d=DOMAIN s=SELECTOR a=ALGORITHM" or
"fail ..."; exits 0 only when there is a signature and all pass.
"""
import sys

import dkim
import dns.resolver


def main():
    host, port = sys.argv[1].rsplit(":", 1)
    res = dns.resolver.Resolver(configure=False)
    res.nameservers = [host]
    res.port = int(port)

    def txt(name, timeout=5):
        if isinstance(name, bytes):
            name = name.decode()
        answer = res.resolve(name, "TXT", lifetime=timeout)
        return b"".join(answer[0].strings)

    msg = open(sys.argv[2], "rb").read()
    d = dkim.DKIM(msg)
    sigs = [v for (k, v) in d.headers if k.lower() == b"dkim-signature"]
    if not sigs:
        print("none")
        return 1
    ok = True
    for i in range(len(sigs)):
        why = ""
        try:
            passed = d.verify(idx=i, dnsfunc=txt)
        except dkim.DKIMException as e:
            passed, why = False, " (%s)" % e
        tags = dict((k.strip(), v.strip()) for (k, _, v) in (t.partition(b"=") for t in sigs[i].replace(b"\r\n", b"").split(b";")) if k.strip())
        print("%s d=%s s=%s a=%s%s" % ("pass" if passed else "fail", tags[b"d"].decode(), tags[b"s"].decode(), tags[b"a"].decode(), why))
        ok = ok and passed
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
