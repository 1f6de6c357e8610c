package checks

// ZonesDNS is testDNS for the external tests (package checks_test): a
// server of testdata/zones and a resolver asking it.
var ZonesDNS = testDNS
