package broker

import (
	"strings"
	"unicode"
	"unicode/utf8"
	"unsafe"
)

// validateName checks an exchange, queue or consumer tag name: 1..255 bytes
// of valid UTF-8 without whitespace or control characters. Names travel as
// single tokens in the text protocol, so a space inside one could never be
// addressed again.
//
// A qualified name (Qualify) is checked part by part.
func validateName(kind, qname string) *Error {
	vhost, name := SplitQualified(qname)
	if len(name) < len(qname) {
		if vhost == DefaultVhost {
			return Errorf(CodeInvalidArgument, "%s name %q names the default vhost explicitly: use the bare name", kind, name)
		}
		if e := ValidateVhost(vhost); e != nil {
			return e
		}
	}
	if name == "" {
		return Errorf(CodeInvalidArgument, "%s name is empty: give a name of 1 to %d bytes", kind, MaxNameLen)
	}
	if len(name) > MaxNameLen {
		return Errorf(CodeInvalidArgument, "%s name is %d bytes long: the limit is %d", kind, len(name), MaxNameLen)
	}
	if bad, ok := findBadRune(name); !ok {
		return Errorf(CodeInvalidArgument, "%s name %q contains %s: use printable characters without spaces", kind, name, bad)
	}
	return nil
}

// validateBindingKey checks a binding key (a topic pattern or a direct key):
// at most 255 bytes, no whitespace or control characters. Empty is allowed.
func validateBindingKey(key string) *Error {
	if len(key) > MaxRoutingKeyLen {
		return Errorf(CodeInvalidArgument, "binding key is %d bytes long: the limit is %d", len(key), MaxRoutingKeyLen)
	}
	if bad, ok := findBadRune(key); !ok {
		return Errorf(CodeInvalidArgument, "binding key %q contains %s: use printable characters without spaces", key, bad)
	}
	return nil
}

// validateMessageID checks a message id with the rule of names: 1..255
// bytes of valid UTF-8 without whitespace or control characters. The text
// protocol carries an id as one token ("Message: <id> <json>", "ack <id>"),
// so an id outside this alphabet, accepted from the native protocol, could
// never be acknowledged by a text consumer and would be redelivered
// forever. The core enforces it so that both protocols agree.
func validateMessageID(id []byte) *Error {
	if len(id) == 0 {
		return Errorf(CodeInvalidArgument, "message id is empty: give every message a unique id of 1 to %d bytes", MaxMessageIDLen)
	}
	if len(id) > MaxMessageIDLen {
		return Errorf(CodeInvalidArgument, "message id is %d bytes long: the limit is %d", len(id), MaxMessageIDLen)
	}
	if bad, ok := findBadRune(unsafe.String(&id[0], len(id))); !ok {
		return Errorf(CodeInvalidArgument, "message id %q contains %s: use printable characters without spaces (e.g. a UUID)", id, bad)
	}
	return nil
}

// findBadRune reports the first character that is not allowed in a name,
// described for an error message, and false; or "", true if all are fine.
func findBadRune(s string) (string, bool) {
	for i := 0; i < len(s); {
		b := s[i]
		if b < utf8.RuneSelf {
			if b <= ' ' || b == 0x7f {
				if b == ' ' {
					return "a space", false
				}
				return "a control character", false
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			return "invalid UTF-8", false
		}
		if unicode.IsSpace(r) {
			return "a space", false
		}
		if unicode.IsControl(r) {
			return "a control character", false
		}
		i += size
	}
	return "", true
}

// Virtual hosts. Every name the core keeps (exchange, queue, dead-letter
// queue) lives in a virtual host. The default vhost "/" keeps bare names,
// so the reference protocol's topology, durable logs and tests address
// them as they always did; any other vhost's objects are kept under
// Qualify(vhost, name) = vhost + VhostSeparator + name. The separator is a
// control character, which no name or vhost may contain, so two vhosts'
// names can never collide and a client can never spell another vhost's
// name. Protocol sessions qualify what a client names and strip what they
// report back (Local); the core's own messages show the local part only.
const (
	DefaultVhost   = "/"
	VhostSeparator = "\x1f"
	MaxVhostLen    = 255
)

// inDefaultVhost reports whether a core name belongs to the default vhost
// (it carries no vhost prefix).
func inDefaultVhost(name string) bool { return !strings.Contains(name, VhostSeparator) }

// Qualify returns the core's name for name in vhost.
func Qualify(vhost, name string) string {
	if vhost == DefaultVhost || vhost == "" {
		return name
	}
	return vhost + VhostSeparator + name
}

// SplitQualified returns the vhost and local name of a core name.
func SplitQualified(qname string) (vhost, name string) {
	for i := 0; i < len(qname); i++ {
		if qname[i] == VhostSeparator[0] {
			return qname[:i], qname[i+1:]
		}
	}
	return DefaultVhost, qname
}

// shown is the part of a core name that messages show: the client knows
// its own vhost.
func shown(qname string) string {
	_, name := SplitQualified(qname)
	return name
}

// ValidateVhost checks a virtual host name: 1..255 bytes of printable UTF-8
// without spaces or control characters.
func ValidateVhost(vhost string) *Error {
	if vhost == "" {
		return Errorf(CodeInvalidArgument, "vhost name is empty: use %q for the default vhost", DefaultVhost)
	}
	if len(vhost) > MaxVhostLen {
		return Errorf(CodeInvalidArgument, "vhost name is %d bytes long: the limit is %d", len(vhost), MaxVhostLen)
	}
	if bad, ok := findBadRune(vhost); !ok {
		return Errorf(CodeInvalidArgument, "vhost name %q contains %s: use printable characters without spaces", vhost, bad)
	}
	return nil
}
