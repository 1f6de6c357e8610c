package dsn

// rhostFind is the reason a remote host's documented replies name (go-sisimai
// rhost/*.go), or "".
func (t *reasonTable) rhostFind(f *fact) string { return "" }
