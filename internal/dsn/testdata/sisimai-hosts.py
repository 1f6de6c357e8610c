#!/usr/bin/env python3
"""Writes internal/dsn/sisimai-rhosts.txt and sisimai-lhosts.txt from the
go-sisimai sources (rhost/for-*.go, lhost/via-*.go): the tables, in source
order, as the reader's rhost.go and lhost.go match them.

Usage: sisimai-hosts.py GIT_DIR COMMIT OUTDIR
The git directory is a clone of github.com/sisimai/go-sisimai.
"""
import re
import subprocess
import sys


def show(gitdir, commit, path):
    return subprocess.run(["git", "--git-dir", gitdir, "show", commit + ":" + path],
                          check=True, capture_output=True, text=True).stdout


def tokens(src):
    """Go tokens that matter for composite literals: strings, { } , : and
    words (types, identifiers); comments dropped."""
    i, n = 0, len(src)
    while i < n:
        c = src[i]
        if src.startswith("//", i):
            i = src.index("\n", i) if "\n" in src[i:] else n
        elif src.startswith("/*", i):
            i = src.index("*/", i) + 2
        elif c == '"':
            j, out = i + 1, []
            while src[j] != '"':
                if src[j] == "\\":
                    e = src[j + 1]
                    out.append({"n": "\n", "t": "\t", "\\": "\\", '"': '"', "'": "'"}[e])
                    j += 2
                else:
                    out.append(src[j])
                    j += 1
            yield ("s", "".join(out))
            i = j + 1
        elif c == "`":
            j = src.index("`", i + 1)
            yield ("s", src[i + 1:j])
            i = j + 1
        elif c in "{},:":
            yield (c, c)
            i += 1
        elif c.isspace():
            i += 1
        else:
            j = i
            while j < n and not src[j].isspace() and src[j] not in '{},:"`' and not src.startswith("//", j):
                j += 1
            yield ("w", src[i:j])
            i = j


def literal(src, name):
    """The value of `name := TYPE{...}` in src: dicts for keyed literals,
    lists otherwise, str for strings."""
    at = re.search(r"\b%s\s*:?=" % name, src).start()
    toks = list(tokens(src[at:]))
    k = 0
    while toks[k][0] != "{":
        k += 1

    def value(k):
        while toks[k][0] == "w":
            k += 1
        if toks[k][0] == "s":
            return toks[k][1], k + 1
        assert toks[k][0] == "{", toks[k]
        k += 1
        keyed, items, pairs = False, [], []
        while toks[k][0] != "}":
            v, k = value(k)
            if toks[k][0] == ":":
                keyed = True
                w, k = value(k + 1)
                pairs.append((v, w))
            else:
                items.append(v)
            if toks[k][0] == ",":
                k += 1
        return (pairs if keyed else items), k + 1

    v, _ = value(k)
    return v


# sisimai's own misspellings of reason names, and what they mean.
FIX = {"spandetected": "spamdetected", "blokced": "blocked", "relayingdenied": "norelaying"}


def fix(r):
    return FIX.get(r, r)


def rhosts(gitdir, commit):
    lib = show(gitdir, commit, "rhost/lib.go")
    hosts = dict(literal(lib, "RhostClass"))
    out = []
    files = {"Aol": "aol", "Apple": "apple", "Cox": "cox", "Facebook": "facebook", "FrancePTT": "franceptt",
             "GoDaddy": "godaddy", "Google": "google", "GSuite": "gsuite", "IUA": "iua", "KDDI": "kddi",
             "MessageLabs": "messagelabs", "Microsoft": "microsoft", "Mimecast": "mimecast",
             "NTTDOCOMO": "nttdocomo", "Outlook": "outlook", "Spectrum": "spectrum", "Tencent": "tencent",
             "YahooInc": "yahooinc"}
    # Providers whose module matches the text as written (no ToLower).
    cased = {"Aol", "GSuite", "MessageLabs", "Outlook"}
    for name in sorted(hosts, key=str.lower):
        src = show(gitdir, commit, "rhost/for-%s.go" % files[name])
        out.append("")
        out.append("[%s]" % name)
        out.append("# rhost/for-%s.go" % files[name])
        for h in hosts[name]:
            out.append("host\t" + h)
        def low(s):
            return s if name in cased else s.lower()
        if "errorcodes" in src:
            codes = literal(src, "errorcodes")
            for item in codes:
                if isinstance(item, tuple):
                    k, v = item
                    if isinstance(v, list):  # reason -> codes
                        for c in v:
                            out.append("code\t%s\t%s" % (fix(k), c))
                    else:  # code -> reason ("" is no reason)
                        out.append("code\t%s\t%s" % (fix(v) or "-", k))
                else:  # Spectrum: [from, to, reason]
                    c = item[0] + ("-" + item[1] if item[1] else "")
                    out.append("code\t%s\t%s" % (fix(item[2]), c))
        if "messagesof" in src:
            for reason, rows in literal(src, "messagesof"):
                if isinstance(rows, str):
                    rows = [rows]
                for r in rows:
                    if isinstance(r, str):
                        out.append("row\t%s\t-\t-\t%s" % (fix(reason), low(r)))
                    elif len(r) == 2:  # Mimecast: reply, phrase
                        out.append("row\t%s\t%s\t-\t%s" % (fix(reason), r[0], low(r[1])))
                    elif len(r) == 3:  # Google: reply, status, phrase
                        out.append("row\t%s\t%s\t%s\t%s" % (fix(reason), r[0], r[1], low(r[2])))
                    else:  # Microsoft: status, third-field range, phrase
                        st = r[0] + (r[1] + "-" + r[2] if r[1] != r[2] else "")
                        out.append("row\t%s\t-\t%s\t%s" % (fix(reason), st, low(r[3])))
    return out


# lhost/order.go AnotherOrder, then the modules it does not list.
ORDER = ["Exim", "Sendmail", "Exchange2007", "Exchange2003", "AmazonSES", "InterScanMSS", "KDDI",
         "Verizon", "ApacheJames", "FML", "X2", "Postfix", "OpenSMTPD", "Courier", "qmail",
         "MessagingServer", "MailMarshalSMTP", "Domino", "Notes", "Gmail", "Zoho", "GMX", "GoogleGroups",
         "MailFoundry", "V5sendmail", "IMailServer", "mFILTER", "Activehunter", "EZweb", "Biglobe",
         "EinsUndEins", "X1", "X3", "X6", "DragonFly", "GoogleWorkspace"]

# Rows left out: phrases so generic that, applied to every notice (we do
# not know which MTA wrote it), they would name a reason for other MTAs'
# wording. module -> {phrase: why}
DROP = {
    "qmail": {"Unable to": "qmail's systemerror; any \"Unable to deliver\", \"Unable to relay\"",
              "system error": "qmail's systemerror; any MTA's \"temporary system error\""},
    "OpenSMTPD": {"Invalid domain name": "OpenSMTPD's hostunknown; a remote server's refusal of a HELO or"
                                         " sender domain (\"501 5.0.0 Invalid domain name\")"},
    "IMailServer": {"Delivery failed ": "IMail's expired; the first words of many MTAs' notices",
                    "Unknown host": "IMail's hostunknown; also a sender's or client's unknown host"},
}

# Tables per module: (variable, kind). kind "any": phrase contained;
# "aligned": every part in order; "exchange2003": the code in parentheses
# after MSEXCH:; "exchange2007": " CODE;" as the module cuts it; "state":
# Gmail's " (state N)"; "expired": a list naming expired.
TABLES = {
    "Exim": [("messagesof", "any"), ("delayedfor", "expired")],
    "Exchange2007": [("ndrsubject", "exchange2007")],
    "Exchange2003": [("errorcodes", "exchange2003")],
    "KDDI": [("messagesof", "any")],
    "Verizon": [("messagesof", "any")],
    "FML": [("errortable", "any")],
    "OpenSMTPD": [("messagesof", "any")],
    "Courier": [("messagesof", "any")],
    "qmail": [("onholdpair", "onhold"), ("messagesof", "any"), ("failonldap", "any"), ("hasexpired", "expired")],
    "MessagingServer": [("messagesof", "any")],
    "Domino": [("messagesof", "any"), ("exceptutf8", "aligned")],
    "Notes": [("messagesof", "any")],
    "Gmail": [("statetable", "state"), ("messagesof", "any")],
    "Zoho": [("messagesof", "any")],
    "GMX": [("messagesof", "any")],
    "IMailServer": [("messagesof", "any")],
    "EZweb": [("messagesof", "any")],
    "Biglobe": [("messagesof", "any")],
    "EinsUndEins": [("messagesof", "any")],
    "DragonFly": [("messagesof", "any")],
    "GoogleWorkspace": [("messagesof", "any")],
}


def lhosts(gitdir, commit):
    out, dropped = [], []
    for name in ORDER:
        if name not in TABLES:
            continue
        path = "lhost/via-%s.go" % name.lower()
        src = show(gitdir, commit, path)
        body = []
        for var, kind in TABLES[name]:
            if kind == "expired":
                if var == "hasexpired":
                    at = src.index("hasexpired := ")
                    v = next(tokens(src[at + len("hasexpired := "):]))[1]
                    body.append("any\texpired\t" + v)
                else:
                    for v in literal(src, var):
                        body.append("any\texpired\t" + v)
                continue
            if kind == "onhold":
                body.append("aligned\tonhold\t" + "\t".join(literal(src, var)))
                continue
            for reason, rows in literal(src, var):
                if kind == "exchange2007":  # code -> reason
                    body.append("any\t%s\t %s;" % (fix(rows), reason))
                    continue
                if kind == "state":  # "14" -> [command, reason]
                    body.append("any\t%s\t (state %s)" % (fix(rows[1]), reason))
                    continue
                for r in rows:
                    if kind == "aligned":
                        body.append("aligned\t%s\t%s" % (fix(reason), "\t".join(r)))
                    elif kind == "exchange2003":
                        body.append("aligned\t%s\tMSEXCH:\t(%s)" % (fix(reason), r))
                    elif r in DROP.get(name, {}):
                        dropped.append("# %s %s %r: %s" % (name, fix(reason), r, DROP[name][r]))
                    else:
                        body.append("any\t%s\t%s" % (fix(reason), r))
        out.append("")
        out.append("[%s]" % name)
        out.append("# " + path)
        out.extend(body)
    return out, dropped


def main():
    gitdir, commit, outdir = sys.argv[1:4]
    head = ("# Generated by internal/dsn/testdata/sisimai-hosts.py from go-sisimai\n"
            "# (github.com/sisimai/go-sisimai, commit %s, BSD 2-Clause,\n"
            "# Copyright (C) 2020-2025 azumakuniyuki and sisimai development team);\n"
            "# testdata/dsn/SOURCE. Do not edit by hand.\n" % commit)
    r = rhosts(gitdir, commit)
    with open(outdir + "/sisimai-rhosts.txt", "w") as f:
        f.write(head)
        f.write("#\n# The documented replies of known remote hosts (rhost/for-*.go), per provider:\n"
                "# [Provider] (rhost/lib.go RhostClass), then \"host<TAB>suffix\" lines (the\n"
                "# provider's host names), \"code<TAB>reason<TAB>code\" (the provider's error\n"
                "# codes; a range is FROM-TO, reason \"-\" names none) and\n"
                "# \"row<TAB>reason<TAB>reply<TAB>status<TAB>phrase\" (\"-\" for none; Microsoft's\n"
                "# status may end in a range of its third field, \"5.7.606-649\"). How each\n"
                "# provider's rows are matched is rhost.go's, per module. Phrases are lower\n"
                "# case except where the module matches the text as written (Aol, GSuite,\n"
                "# MessageLabs, Outlook). Reason names sisimai misspells are corrected: %s.\n"
                "# Mimecast's \"Journal messages past the expiration\" and Microsoft's\n"
                "# \"tlsa-invalid: The domain failed dane validation\" are written with capitals\n"
                "# in sisimai, which matches them against lower-cased text (never); they are\n"
                "# lower case here. Mimecast's reply \"550Z\" is kept: it matches no reply.\n"
                % ", ".join("%s -> %s" % kv for kv in sorted(FIX.items()) if kv[0] != "relayingdenied"))
        f.write("\n".join(r) + "\n")
    l, dropped = lhosts(gitdir, commit)
    with open(outdir + "/sisimai-lhosts.txt", "w") as f:
        f.write(head)
        f.write("#\n# The reason tables of sisimai's MTA modules (lhost/via-*.go: messagesof and\n"
                "# the like), per module in the order of lhost/order.go AnotherOrder (modules\n"
                "# it does not list last): [Module], then \"any<TAB>reason<TAB>phrase\" (the\n"
                "# phrase occurs) or \"aligned<TAB>reason<TAB>part<TAB>part...\" (the parts occur\n"
                "# in this order). Phrases are as written: the modules match them case-\n"
                "# sensitively. Gmail's (state N) table is its statetable; Exchange2003's\n"
                "# MSEXCH codes and Exchange2007's \" RESOLVER.X.Y;\" codes are as the modules\n"
                "# cut them. sisimai's misspelt reason relayingdenied (Gmail state 12) is\n"
                "# norelaying here. Not ported: Amazon SES's bounce subtypes (JSON fields, not\n"
                "# wording), FML's subject table (the notice has no subject), InterScanMSS's\n"
                "# and Exim's command-based reasons (code, not tables).\n"
                "#\n# Rows dropped as too generic to apply to every MTA's notice:\n")
        f.write("\n".join(dropped) + "\n")
        f.write("\n".join(l) + "\n")


if __name__ == "__main__":
    main()
