// Package repocheck holds tests of the repository's own files: the
// Makefile's targets (run, install, fuzz) and the contrib snippets, as a
// user meets them. It has no code.
package repocheck
