// Command dnsd serves the zone files of a directory on a loopback address,
// with resolver/dnstest, so that benchmarks and demos have real DNS.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/mailsift/mailsift/internal/resolver/dnstest"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:5353", "UDP and TCP address")
	dir := flag.String("zones", "testdata/zones", "directory of *.zone files")
	flag.Parse()
	s, err := dnstest.New(*addr)
	if err == nil {
		err = s.LoadDir(*dir)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "dnsd:", err)
		os.Exit(1)
	}
	fmt.Println(s.Addr)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	s.Close()
}
