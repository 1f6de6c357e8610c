package dsn

import (
	"strings"
	"testing"
)

// zoneMTAClass maps the bounce categories of zone-mta (testdata/dsn/SOURCE)
// that its tests assert to mailsift's classes. blacklist is zone-mta's
// "Sender IP blacklisted" (spam-blocked: IP reputation, blocklist); other is
// its category for a reply no rule recognises, and mailsift's other is
// "anything else". A category not in the map is dropped.
var zoneMTAClass = map[string]string{
	"blacklist": SpamBlocked,
	"other":     Other,
}

// zoneMTAFloor is the share of zone-mta's asserted reply lines whose class
// Explain gets right, measured with the classifier of the commit that added
// them, less 2 points (rounded down); measured, never read while writing
// rules. Measured: 4 of 4 (100%). The set is small: 4 lines, 2 distinct
// texts.
const zoneMTAFloor = 98.0

func TestZoneMTAReplies(t *testing.T) {
	unescape := strings.NewReplacer(`\r`, "\r", `\n`, "\n")
	var total, right, dropped int
	var misses []string
	for _, c := range readTSV(t, "zonemta-replies.tsv", 2) {
		category, reply := c[0], c[1]
		want, ok := zoneMTAClass[category]
		if !ok {
			dropped++
			continue
		}
		total++
		got := Explain("", unescape.Replace(reply)).Class
		if got == want {
			right++
		} else {
			misses = append(misses, reply+": "+got+", want "+want+" ("+category+")")
		}
	}
	t.Logf("zone-mta: explain right class for %d of %d reply lines (%.1f%%), %d dropped", right, total, share(right, total), dropped)
	logMisses(t, "zonemta", misses)
	checkFloors(t, "zone-mta", floor{"explain right class of reply lines", share(right, total), zoneMTAFloor})
}
