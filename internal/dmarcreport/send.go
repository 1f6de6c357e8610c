package dmarcreport

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/smtp"
	"os/exec"
	"strings"
	"time"
)

// Sender hands a message to the mail system.
type Sender interface {
	Send(ctx context.Context, from string, to []string, msg []byte) error
}

// Sendmail runs the local MTA's sendmail command (Postfix's and
// Sendmail's take the same arguments).
type Sendmail struct {
	Path string // e.g. /usr/sbin/sendmail
}

// Send implements Sender: "sendmail -i -f FROM -- TO..." with the message
// on its input.
func (s Sendmail) Send(ctx context.Context, from string, to []string, msg []byte) error {
	args := append([]string{"-i", "-f", from, "--"}, to...)
	cmd := exec.CommandContext(ctx, s.Path, args...)
	cmd.Stdin = bytes.NewReader(msg)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("dmarc report: %s: %v: %s", s.Path, err, strings.TrimSpace(out.String()))
	}
	return nil
}

// Relay sends through an SMTP server (the local MTA's port 25, or a
// relay it is allowed to use), with no authentication.
type Relay struct {
	Addr    string // "HOST:PORT"
	Helo    string // our name
	Timeout time.Duration
}

// Send implements Sender.
func (r Relay) Send(ctx context.Context, from string, to []string, msg []byte) error {
	t := r.Timeout
	if t <= 0 {
		t = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, t)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", r.Addr)
	if err != nil {
		return fmt.Errorf("dmarc report: relay %s: %w", r.Addr, err)
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() }) // net/smtp takes no context
	defer stop()
	defer conn.Close()
	host, _, _ := net.SplitHostPort(r.Addr)
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		return fmt.Errorf("dmarc report: relay %s: %w", r.Addr, err)
	}
	step := func(what string, err error) error {
		if err != nil {
			return fmt.Errorf("dmarc report: relay %s: %s: %w", r.Addr, what, err)
		}
		return nil
	}
	if err := step("EHLO", c.Hello(r.Helo)); err != nil {
		return err
	}
	if err := step("MAIL FROM", c.Mail(from)); err != nil {
		return err
	}
	for _, rc := range to {
		if err := step("RCPT TO "+rc, c.Rcpt(rc)); err != nil {
			return err
		}
	}
	w, err := c.Data()
	if err := step("DATA", err); err != nil {
		return err
	}
	if _, err := w.Write(msg); err != nil {
		return step("DATA", err)
	}
	if err := step("end of DATA", w.Close()); err != nil {
		return err
	}
	return step("QUIT", c.Quit())
}
