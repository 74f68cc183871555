package inbox

import (
	"encoding/base64"
	"time"
	"unicode/utf8"
)

// parseCanonical is the fast path of decoding: it accepts exactly the lines
// appendRecord writes (fixed key order, no whitespace, only the escapes the
// encoder produces) and validates them completely. Anything else returns
// ok == false, and the caller falls back to encoding/json, which accepts
// any valid spelling of a record. Rebuilding a large file at Open is then
// bound by this parser, not by reflection.
//
// With keep false it only returns the message id (the rest is validated
// but not kept), which is what Open needs.
func parseCanonical(line []byte, scratch *[]byte, keep bool) (r Record, ok bool) {
	p := canonParser{b: line, scratch: scratch}
	if !p.lit(`{"message_id":`) {
		return r, false
	}
	id, ok := p.str()
	if !ok || len(id) == 0 {
		return r, false
	}
	r.MessageID = string(id)
	if !p.lit(`,"queue":`) {
		return r, false
	}
	q, ok := p.str()
	if !ok {
		return r, false
	}
	if keep {
		r.Queue = string(q)
	}
	if !p.lit(`,"sender":`) {
		return r, false
	}
	snd, ok := p.str()
	if !ok {
		return r, false
	}
	if keep {
		r.Sender = string(snd)
	}
	if !p.lit(`,"received_at":`) {
		return r, false
	}
	if r.ReceivedAt, ok = p.time(); !ok {
		return r, false
	}
	if !p.lit(`,"stored_at":`) {
		return r, false
	}
	if r.StoredAt, ok = p.time(); !ok {
		return r, false
	}
	// Optional, written only when true (older files never have it).
	if p.lit(`,"redelivered":true`) && keep {
		r.Redelivered = true
	}
	switch {
	case p.lit(`,"message":`):
		m, ok := p.str()
		if !ok {
			return r, false
		}
		if keep {
			r.Message = append([]byte{}, m...)
		}
	case p.lit(`,"message_base64":"`):
		end := p.i
		for end < len(p.b) && p.b[end] != '"' {
			end++
		}
		if end == len(p.b) {
			return r, false
		}
		enc := p.b[p.i:end]
		for _, c := range enc {
			// Decode would skip '\r' and '\n'; JSON and we allow neither.
			if !isBase64Char(c) {
				return r, false
			}
		}
		buf := (*scratch)[:0]
		buf = append(buf, make([]byte, base64.StdEncoding.DecodedLen(len(enc)))...)
		n, err := base64.StdEncoding.Decode(buf, enc)
		if err != nil {
			return r, false
		}
		*scratch = buf[:0]
		if keep {
			r.Message = append([]byte{}, buf[:n]...)
		}
		p.i = end + 1
	default:
		return r, false
	}
	return r, p.lit("}") && p.i == len(p.b)
}

type canonParser struct {
	b       []byte
	i       int
	scratch *[]byte
}

func (p *canonParser) lit(s string) bool {
	if len(p.b)-p.i < len(s) || string(p.b[p.i:p.i+len(s)]) != s {
		return false
	}
	p.i += len(s)
	return true
}

// str parses a JSON string with the escapes appendJSONString writes. The
// result aliases the line when there is no escape, else the scratch buffer.
func (p *canonParser) str() ([]byte, bool) {
	if p.i >= len(p.b) || p.b[p.i] != '"' {
		return nil, false
	}
	p.i++
	start := p.i
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			s := p.b[start:p.i]
			p.i++
			return s, utf8.Valid(s)
		case c == '\\':
			return p.escapedStr(start)
		case c < 0x20:
			return nil, false
		}
		p.i++
	}
	return nil, false
}

func (p *canonParser) escapedStr(start int) ([]byte, bool) {
	out := append((*p.scratch)[:0], p.b[start:p.i]...)
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			p.i++
			*p.scratch = out[:0]
			return out, utf8.Valid(out)
		case c < 0x20:
			return nil, false
		case c != '\\':
			out = append(out, c)
			p.i++
			continue
		}
		if p.i+1 >= len(p.b) {
			return nil, false
		}
		switch e := p.b[p.i+1]; e {
		case '"', '\\':
			out = append(out, e)
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			// The encoder writes \u00XX for control characters only.
			if p.i+6 > len(p.b) || string(p.b[p.i+2:p.i+4]) != "00" {
				return nil, false
			}
			hi, lo := unhex(p.b[p.i+4]), unhex(p.b[p.i+5])
			if hi < 0 || lo < 0 {
				return nil, false
			}
			out = append(out, byte(hi<<4|lo))
			p.i += 4
		default:
			return nil, false
		}
		p.i += 2
	}
	return nil, false
}

func unhex(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	}
	return -1
}

// time parses a timestamp as strictly as encoding/json does (Time's
// UnmarshalText: RFC 3339, two-digit fields), not as leniently as
// time.Parse.
func (p *canonParser) time() (time.Time, bool) {
	s, ok := p.str()
	if !ok {
		return time.Time{}, false
	}
	var t time.Time
	if err := t.UnmarshalText(s); err != nil {
		return time.Time{}, false
	}
	return t, true
}

func isBase64Char(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/' || c == '='
}
