package settings

import "github.com/mailsift/mailsift/checks"

func failHelo() checks.Result { return checks.Result{Check: "helo", Status: checks.Fail} }
