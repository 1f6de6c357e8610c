// Command ceiling is a bare go-milter server that accepts everything: the
// protocol ceiling that mailsift is measured against.
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"strings"

	gomilter "github.com/emersion/go-milter"
)

type accept struct{ gomilter.NoOpMilter }

// Body answers continue, as mailsift does, so the backend survives.
func (accept) Body(*gomilter.Modifier) (gomilter.Response, error) { return gomilter.RespContinue, nil }

func main() {
	addr := flag.String("addr", "unix:/tmp/ceiling.sock", "inet:HOST:PORT or unix:PATH")
	flag.Parse()
	network, address, _ := strings.Cut(*addr, ":")
	if network == "inet" {
		network = "tcp"
	}
	if network == "unix" {
		os.Remove(address)
	}
	ln, err := net.Listen(network, address)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	s := &gomilter.Server{NewMilter: func() gomilter.Milter { return accept{} }, Actions: gomilter.OptAddHeader,
		Protocol: gomilter.OptNoBody | gomilter.OptNoEOH}
	s.Serve(ln)
}
