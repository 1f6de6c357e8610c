#!/usr/bin/env python3
# Writes internal/dsn/sisimai-reasons.txt from a go-sisimai checkout:
#   cd go-sisimai && mkdir /tmp/sis && cp reason/why-*.go /tmp/sis/ &&
#   cp smtp/status/lib.go /tmp/sis/status.go && cd /tmp/sis &&
#   python3 gen-sisimai-reasons.py && cp sisimai-reasons.txt internal/dsn/
# It copies each reason's IncludedIn lists (index, pairs, isnot) and the
# status table of status.Name; it prints any IncludedIn logic it did not
# copy (there is none at commit ed142ded2c40de1233f82d8405a0acf0b76998c6).
import re,glob,os
out=[]
out.append("# Bounce reason phrases of sisimai (go-sisimai reason/why-*.go, the IncludedIn lists),")
out.append("# and its status-code table (smtp/status/lib.go, Name). Source, commit and licence:")
out.append("# testdata/dsn/SOURCE (\"internal/dsn/sisimai-reasons.txt\"). Lines: [reason], then")
out.append("# \"index<TAB>phrase\" (contained), \"pair<TAB>a<TAB>b...\" (in this order),")
out.append("# \"isnot<TAB>phrase\" (never this reason), and under [status] \"code<TAB>reason\".")
def lits(block):
    return [bytes(s,'utf-8').decode('unicode_escape').encode('latin-1').decode('utf-8') for s in re.findall(r'"((?:[^"\\]|\\.)*)"', block)]
for f in sorted(glob.glob('why-*.go')):
    src=open(f).read()
    m=re.search(r'IncludedIn\["(\w+)"\]\s*=\s*func\(argv1 string\) bool \{(.*?)\n\t\}\n', src, re.S)
    if not m: 
        print("skip",f); continue
    name,body=m.group(1),m.group(2)
    # strip comments
    body=re.sub(r'(?m)^\s*//.*$','',body); body=re.sub(r'(?m)(,|\{)\s*//.*$',r'\1',body)
    out.append("")
    out.append("["+name.lower()+"]")
    for kind in ('isnot','index'):
        mm=re.search(kind+r'\s*:=\s*\[\]string\{((?:[^}"]|"(?:[^"\\]|\\.)*")*)\}', body, re.S)
        if mm:
            for s in lits(mm.group(1)): out.append(kind+"\t"+s)
    mm=re.search(r'pairs\s*:=\s*\[\]\[\]string\{(.*?)\n\s*\}\n', body, re.S)
    if mm:
        for row in re.findall(r'\[\]string\{(.*?)\}', mm.group(1)):
            out.append("pair\t"+"\t".join(lits(row)))
    rest=re.sub(r'(isnot|index)\s*:=\s*\[\]string\{(?:[^}"]|"(?:[^"\\]|\\.)*")*\}','',body,flags=re.S)
    rest=re.sub(r'pairs\s*:=\s*\[\]\[\]string\{.*?\n\s*\}\n','',rest,flags=re.S)
    extra=[l for l in rest.split('\n') if l.strip() and not re.match(r'\s*(if argv1 == "" \{ return false \}|for _, v := range (index|pairs|isnot) .*|return false|\})\s*$',l)]
    if extra: print(f, extra)
src=open('status.go').read()
m=re.search(r'func Name\(.*?\n\}\n', src, re.S)
out.append("")
out.append("[status]")
for code,r in re.findall(r'^\s*"(\d\.\d+\.\d+)":\s*"(\w+)"', m.group(0), re.M):
    out.append(code+"\t"+r)
open('sisimai-reasons.txt','w').write("\n".join(out)+"\n")
