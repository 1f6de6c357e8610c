package config

import (
	"strings"
)

// keyLines maps each dotted key of a TOML document to the line it is set
// on, for error messages about keys the decoder accepted but validation did
// not. It is a light scan, not a parser: the decoder has already accepted
// the document, so only table headers, "key = value" lines and one level of
// inline tables need to be recognised.
func keyLines(data []byte) map[string]int {
	lines := map[string]int{}
	table := ""
	inMulti := ""
	for i, line := range strings.Split(string(data), "\n") {
		n := i + 1
		s := strings.TrimSpace(line)
		if inMulti != "" {
			if strings.Contains(s, inMulti) {
				inMulti = ""
			}
			continue
		}
		if s == "" || s[0] == '#' {
			continue
		}
		if s[0] == '[' {
			h := strings.Trim(strings.SplitN(s, "#", 2)[0], "[] \t")
			table = cleanKey(h)
			if _, ok := lines[table]; !ok {
				lines[table] = n
			}
			continue
		}
		k, v, ok := strings.Cut(s, "=")
		if !ok {
			continue
		}
		key := join(table, cleanKey(k))
		if _, ok := lines[key]; !ok {
			lines[key] = n
		}
		v = strings.TrimSpace(v)
		for _, q := range []string{`"""`, `'''`} {
			if strings.HasPrefix(v, q) && !strings.Contains(v[3:], q) {
				inMulti = q
			}
		}
		if strings.HasPrefix(v, "{") {
			inner := strings.Trim(strings.SplitN(v, "}", 2)[0], "{ ")
			for _, part := range strings.Split(inner, ",") {
				if ik, _, ok := strings.Cut(part, "="); ok {
					sub := join(key, cleanKey(ik))
					if _, ok := lines[sub]; !ok {
						lines[sub] = n
					}
				}
			}
		}
	}
	return lines
}

func cleanKey(k string) string {
	parts := strings.Split(k, ".")
	for i, p := range parts {
		parts[i] = strings.Trim(strings.TrimSpace(p), `"'`)
	}
	return strings.Join(parts, ".")
}

func join(a, b string) string {
	if a == "" {
		return b
	}
	return a + "." + b
}
