package settings

import (
	"github.com/mailsift/mailsift/checks"
	"github.com/mailsift/mailsift/internal/policy"
)

// checkConfigs returns every inbound check table's shared part, by check
// name, in the list's order.
func (c *Config) checkConfigs() map[string]*checks.CheckConfig {
	m := map[string]*checks.CheckConfig{}
	for _, e := range checks.Inbound(&c.Checks, &c.Greylist) {
		m[e.Name] = e.Table
	}
	return m
}

// Effective returns a copy of c with what the code fills in spelled out:
// each check's action for every status (and the reason actions set), and
// each of its replies. It is what "mailsift config check" prints.
func (c *Config) Effective() *Config {
	e := *c
	for name, cc := range e.checkConfigs() {
		*cc = cc.Effective(name, policy.DefaultActions())
	}
	return &e
}
