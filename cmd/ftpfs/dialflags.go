package main

import (
	"fmt"
	"net"
	"strconv"

	"ftpfs/conn"
)

// activeFlag is --active[=ADDR]: alone (or true), active mode announcing
// the control connection's local address; with an IP address, active
// mode announcing that one; false turns it off again (-o active=false).
type activeFlag struct{ cc *conn.Config }

func (a activeFlag) IsBoolFlag() bool { return true }

func (a activeFlag) String() string {
	if a.cc == nil || !a.cc.Active {
		return ""
	}
	if a.cc.ActiveAddr != "" {
		return a.cc.ActiveAddr
	}
	return "true"
}

func (a activeFlag) Set(s string) error {
	if b, err := strconv.ParseBool(s); err == nil {
		a.cc.Active, a.cc.ActiveAddr = b, ""
		return nil
	}
	if net.ParseIP(s) == nil {
		return fmt.Errorf("want an IP address to name to the server, got %q", s)
	}
	a.cc.Active, a.cc.ActiveAddr = true, s
	return nil
}
