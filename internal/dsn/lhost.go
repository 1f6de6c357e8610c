package dsn

// lhostFind is the reason the wording of a reporting MTA names (the
// message tables of go-sisimai lhost/*.go), over the whole notice, or "".
func (t *reasonTable) lhostFind(f *fact, notice string) string { return "" }
