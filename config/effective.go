package config

import (
	"github.com/mailsift/mailsift/checks"
	"github.com/mailsift/mailsift/policy"
)

// checkConfigs returns every check table's shared part, by check name.
func (c *Config) checkConfigs() map[string]*CheckConfig {
	ck := &c.Checks
	return map[string]*CheckConfig{
		checks.PTRName: &ck.PTR.CheckConfig, checks.HeloName: &ck.Helo.CheckConfig, checks.SenderName: &ck.Sender.CheckConfig,
		checks.RecipientName: &ck.Recipient.CheckConfig, checks.RelayName: &ck.Relay.CheckConfig, checks.CalloutName: &ck.Callout.CheckConfig,
		checks.GreylistName: &c.Greylist.CheckConfig, checks.SPFName: &ck.SPF.CheckConfig, checks.DKIMName: &ck.DKIM.CheckConfig, checks.DMARCName: &ck.DMARC.CheckConfig,
	}
}

// Effective returns a copy of c with what the code fills in spelled out:
// each check's action for every status (and the reason actions set), and
// each of its replies. It is what "mailsift config check" prints.
func (c *Config) Effective() *Config {
	e := *c
	for name, cc := range e.checkConfigs() {
		actions := map[string]Action{}
		for _, s := range checks.Statuses {
			actions[string(s)] = Action{policy.DefaultActions()[s]}
		}
		for k, a := range cc.Actions {
			actions[k] = a
		}
		replies := map[string]Reply{}
		for _, row := range checks.Table() {
			if row.Check == name {
				replies[row.Key] = Reply{cc.Reply(name, row.Key)}
			}
		}
		cc.Actions, cc.Replies = actions, replies
	}
	return &e
}
