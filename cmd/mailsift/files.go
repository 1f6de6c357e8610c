package main

import (
	"time"

	"github.com/mailsift/mailsift/checks"
	"github.com/mailsift/mailsift/internal/config"
	"github.com/mailsift/mailsift/internal/settings"
)

// listFiles are the files a configuration names, each loaded once: by
// "config check" to validate them, or for the runtime that uses them. An
// error names the configuration file, the key's line and the list file.
type listFiles struct {
	recipients *checks.RecipientList // checks.recipient.list
	whitelist  []*checks.LineFile    // greylist.whitelist.files
	logins     *checks.LoginMap      // outbound.logins
	mailboxes  *checks.RecipientList // outbound.mailboxes
}

// loadFiles loads the files cfg names; path is cfg's file, "" for the
// built-in default.
func loadFiles(path string, cfg *settings.Config) (*listFiles, error) {
	var f listFiles
	var err error
	at := func(key string, err error) error { return config.KeyError(path, key, err) }
	if r := &cfg.Checks.Recipient; r.List != "" {
		if f.recipients, err = checks.LoadRecipientList(r.List, r.Delimiter, time.Now); err != nil {
			return nil, at("checks.recipient.list", err)
		}
	}
	for _, name := range cfg.Greylist.Whitelist.Files {
		lf, err := checks.LoadLineFile(name, checks.ParseWhitelistEntry, time.Now)
		if err != nil {
			return nil, at("greylist.whitelist.files", err)
		}
		f.whitelist = append(f.whitelist, lf)
	}
	if o := &cfg.Outbound; o.Logins != "" {
		if f.logins, err = checks.LoadLoginMap(o.Logins, time.Now); err != nil {
			return nil, at("outbound.logins", err)
		}
	}
	if o := &cfg.Outbound; o.Mailboxes != "" {
		if f.mailboxes, err = checks.LoadRecipientList(o.Mailboxes, cfg.Checks.Recipient.Delimiter, time.Now); err != nil {
			return nil, at("outbound.mailboxes", err)
		}
	}
	return &f, nil
}
