package broker

import (
	"unicode"
	"unicode/utf8"
)

// validateName checks an exchange, queue or consumer tag name: 1..255 bytes
// of valid UTF-8 without whitespace or control characters. Names travel as
// single tokens in the text protocol, so a space inside one could never be
// addressed again.
func validateName(kind, name string) *Error {
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
