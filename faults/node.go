package faults

import (
	"strconv"
	"strings"
)

// Role is what a node does in a run. The topology is a star: every client
// (publisher or receiver) has one link to the broker.
type Role string

const (
	RoleBroker    Role = "broker"
	RolePublisher Role = "publisher"
	RoleReceiver  Role = "receiver"
)

// Node identifies one node of a run to the matching functions of a plan. The
// driver (simulator or real-process test) names its nodes; Index counts the
// nodes of one role from 0 in the order the driver created them.
type Node struct {
	Name  string
	Role  Role
	Index int
}

// Matches reports whether selector sel picks node n. A selector is one of:
//
//	"*"                  every node
//	"role:publisher"     every node of a role (broker, publisher, receiver)
//	"role:receiver#1"    the node of that role with Index 1 (none if absent)
//	anything else        the node with exactly that Name
//
// Role selectors let generated plans (Swarm, Gen) name nodes without knowing
// the driver's node names.
func Matches(sel string, n Node) bool {
	if sel == "*" {
		return true
	}
	rest, ok := strings.CutPrefix(sel, "role:")
	if !ok {
		return sel == n.Name
	}
	role, idx, hasIdx := strings.Cut(rest, "#")
	if Role(role) != n.Role {
		return false
	}
	if !hasIdx {
		return true
	}
	i, err := strconv.Atoi(idx)
	return err == nil && i == n.Index
}

// anyMatches reports whether one of sels picks n.
func anyMatches(sels []string, n Node) bool {
	for _, s := range sels {
		if Matches(s, n) {
			return true
		}
	}
	return false
}

func validSelector(p *problems, field, sel string) {
	if sel == "" {
		p.addf(field, "empty node selector: use a node name, \"*\", \"role:<role>\" or \"role:<role>#<index>\"")
		return
	}
	rest, ok := strings.CutPrefix(sel, "role:")
	if !ok {
		return
	}
	role, idx, hasIdx := strings.Cut(rest, "#")
	switch Role(role) {
	case RoleBroker, RolePublisher, RoleReceiver:
	default:
		p.addf(field, "selector %q names unknown role %q: use broker, publisher or receiver", sel, role)
	}
	if hasIdx {
		if i, err := strconv.Atoi(idx); err != nil || i < 0 {
			p.addf(field, "selector %q has index %q: use a number from 0", sel, idx)
		}
	}
}
