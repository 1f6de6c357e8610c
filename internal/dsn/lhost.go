package dsn

import (
	_ "embed"
	"strings"
)

// The reporting MTAs' own wording: the reason tables of go-sisimai's MTA
// modules (lhost/via-*.go, BSD 2-Clause; source and licence in
// testdata/dsn/SOURCE), as data (sisimai-lhosts.txt, generated from the Go
// sources). sisimai knows which module read a notice; the reader does not,
// so every module's table is tried, in the order of lhost/order.go, and
// rows too generic for that were left out when the file was written.

//go:embed sisimai-lhosts.txt
var lhostData string

// maxNotice bounds the notice text lhostFind reads.
const maxNotice = 16 << 10

// lhostRow names reason when every part occurs in the notice, in order.
type lhostRow struct {
	reason string
	parts  []string
}

// lhostModule is one MTA module's rows.
type lhostModule struct {
	name string
	rows []lhostRow
}

// lhosts is read once from the embedded file; it is never written after.
var lhosts = parseLhosts(lhostData)

func parseLhosts(data string) []*lhostModule {
	var out []*lhostModule
	var cur *lhostModule
	tableLines(data, func(name string) {
		cur = &lhostModule{name: name}
		out = append(out, cur)
	}, func(f []string) {
		switch {
		case cur == nil || len(f) < 3:
		case f[0] == "any" && len(f) == 3, f[0] == "aligned":
			cur.rows = append(cur.rows, lhostRow{reason: f[1], parts: f[2:]})
		}
	})
	return out
}

// lhostFind is the reason the wording of a reporting MTA names (the
// message tables of go-sisimai lhost/*.go), over the whole notice, or "".
// The modules match their phrases as written (case-sensitively) against
// the diagnosis with its spaces squeezed (sisimoji.Sweep).
func (t *reasonTable) lhostFind(f *fact, notice string) string {
	if len(notice) > maxNotice {
		notice = notice[:maxNotice]
	}
	text := strings.Join(strings.Fields(notice), " ")
	if text == "" {
		return ""
	}
	for _, m := range lhosts {
		for _, r := range m.rows {
			if !aligned(text, r.parts) {
				continue
			}
			if m.name == "Gmail" && f.status != "" && !strings.Contains(f.status, ".0") {
				// lhost/via-gmail.go: a status that is not x.0.x or x.x.0
				// names the reason instead.
				return t.statusName(f.status)
			}
			return r.reason
		}
	}
	return ""
}
