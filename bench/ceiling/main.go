// Command ceiling is a bare go-milter server that accepts everything: the
// protocol ceiling that mailsift is measured against. It speaks milter
// protocol 6 through github.com/d--j/go-milter, the library mailsift uses,
// and asks the MTA for as little as a milter can: no reply at any stage
// but the end of the message, no DATA, end-of-header, unknown-command or
// body events. Headers are still sent (mailsift reads them), each with no
// reply. An MTA that offers less gets the common part, as with mailsift.
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"strings"

	gomilter "github.com/d--j/go-milter"
)

// protocol is what the ceiling asks of the MTA.
const protocol = gomilter.OptNoConnReply | gomilter.OptNoHeloReply | gomilter.OptNoMailReply | gomilter.OptNoRcptReply |
	gomilter.OptNoDataReply | gomilter.OptNoUnknownReply | gomilter.OptNoHeaderReply | gomilter.OptNoEOHReply |
	gomilter.OptNoBodyReply | gomilter.OptNoData | gomilter.OptNoEOH | gomilter.OptNoUnknown | gomilter.OptNoBody |
	gomilter.OptHeaderLeadingSpace

// negotiate takes the common part of what the MTA offers and what the
// ceiling asks, as mailsift does.
func negotiate(mtaVersion, milterVersion uint32, mtaActions, milterActions gomilter.OptAction, mtaProtocol, milterProtocol gomilter.OptProtocol, offered gomilter.DataSize) (uint32, gomilter.OptAction, gomilter.OptProtocol, gomilter.DataSize, error) {
	v := min(mtaVersion, milterVersion)
	if v < 2 {
		return 0, 0, 0, 0, fmt.Errorf("ceiling: MTA offers protocol version %d", mtaVersion)
	}
	return v, milterActions & mtaActions, milterProtocol & mtaProtocol, offered, nil
}

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
	s := gomilter.NewServer(
		gomilter.WithMilter(func() gomilter.Milter { return gomilter.NoOpMilter{} }),
		gomilter.WithActions(gomilter.OptAddHeader),
		gomilter.WithProtocols(protocol),
		gomilter.WithNegotiationCallback(negotiate),
	)
	if err := s.Serve(ln); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
