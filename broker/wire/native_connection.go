package wire

import "fmt"

// Connection management frames: Hello, HelloOK, Heartbeat, Close, Error.

// AppendHello appends a Hello frame.
func AppendHello(dst []byte, f *Hello) []byte {
	dst, start := beginFrame(dst, FrameHello)
	dst = appendUvarint(dst, f.Version)
	dst = appendString(dst, f.ClientName)
	dst = appendUvarint(dst, f.HeartbeatMs)
	dst = appendUvarint(dst, f.MaxFrameSize)
	dst = appendFeatures(dst, f.Features)
	return endFrame(dst, start)
}

// DecodeHello decodes a Hello payload.
func DecodeHello(p []byte, f *Hello) error {
	d := decoder{buf: p, frame: FrameHello}
	f.Version = d.uvarint("version")
	f.ClientName = d.str("client_name", MaxNameLen)
	f.HeartbeatMs = d.uvarint("heartbeat_ms")
	f.MaxFrameSize = d.uvarint("max_frame_size")
	f.Features = d.features()
	return d.finish()
}

// AppendHelloOK appends a HelloOK frame.
func AppendHelloOK(dst []byte, f *HelloOK) []byte {
	dst, start := beginFrame(dst, FrameHelloOK)
	dst = appendString(dst, f.ServerName)
	dst = appendUvarint(dst, f.HeartbeatMs)
	dst = appendUvarint(dst, f.MaxFrameSize)
	dst = appendUvarint(dst, f.MaxMessageSize)
	dst = appendFeatures(dst, f.Features)
	return endFrame(dst, start)
}

// DecodeHelloOK decodes a HelloOK payload.
func DecodeHelloOK(p []byte, f *HelloOK) error {
	d := decoder{buf: p, frame: FrameHelloOK}
	f.ServerName = d.str("server_name", MaxNameLen)
	f.HeartbeatMs = d.uvarint("heartbeat_ms")
	f.MaxFrameSize = d.uvarint("max_frame_size")
	f.MaxMessageSize = d.uvarint("max_message_size")
	f.Features = d.features()
	return d.finish()
}

// AppendHeartbeat appends a Heartbeat frame (5 bytes).
func AppendHeartbeat(dst []byte) []byte {
	dst, start := beginFrame(dst, FrameHeartbeat)
	return endFrame(dst, start)
}

// DecodeHeartbeat checks that a Heartbeat payload is empty.
func DecodeHeartbeat(p []byte, _ *Heartbeat) error {
	d := decoder{buf: p, frame: FrameHeartbeat}
	return d.finish()
}

// AppendClose appends a Close frame; Reason is cut to MaxReasonLen.
func AppendClose(dst []byte, f *Close) []byte {
	dst, start := beginFrame(dst, FrameClose)
	dst = appendUvarint(dst, uint64(f.Code))
	dst = appendReason(dst, f.Reason)
	return endFrame(dst, start)
}

// DecodeClose decodes a Close payload.
func DecodeClose(p []byte, f *Close) error {
	d := decoder{buf: p, frame: FrameClose}
	f.Code = d.code("code")
	f.Reason = d.str("reason", MaxReasonLen)
	return d.finish()
}

// AppendError appends an Error frame; Message is cut to MaxReasonLen.
func AppendError(dst []byte, f *Error) []byte {
	dst, start := beginFrame(dst, FrameError)
	dst = appendUvarint(dst, f.ReqID)
	dst = appendUvarint(dst, uint64(f.Code))
	dst = appendReason(dst, f.Message)
	return endFrame(dst, start)
}

// DecodeErrorFrame decodes an Error payload. (DecodeError is the error type.)
func DecodeErrorFrame(p []byte, f *Error) error {
	d := decoder{buf: p, frame: FrameError}
	f.ReqID = d.uvarint("req_id")
	f.Code = d.code("code")
	f.Message = d.str("message", MaxReasonLen)
	return d.finish()
}

func (*Hello) FrameType() FrameType   { return FrameHello }
func (*HelloOK) FrameType() FrameType { return FrameHelloOK }

// appendFeatures writes the optional trailing features field: nothing for
// 0, so frames without features are byte-identical to those of peers that
// predate the field.
func appendFeatures(dst []byte, features uint64) []byte {
	if features == 0 {
		return dst
	}
	return appendUvarint(dst, features)
}

// features reads the optional trailing features field. Absent means 0; an
// explicit 0 is refused, so every Hello and HelloOK has one encoding.
func (d *decoder) features() uint64 {
	if d.err != nil || d.off == len(d.buf) {
		return 0
	}
	v := d.uvarint("features")
	if d.err == nil && v == 0 {
		d.fail("features", fmt.Errorf("%w: features 0 are sent by omitting the field", ErrBadValue))
	}
	return v
}

func (*Heartbeat) FrameType() FrameType { return FrameHeartbeat }
func (*Close) FrameType() FrameType     { return FrameClose }
func (*Error) FrameType() FrameType     { return FrameError }

func (f *Hello) AppendTo(dst []byte) []byte   { return AppendHello(dst, f) }
func (f *HelloOK) AppendTo(dst []byte) []byte { return AppendHelloOK(dst, f) }
func (*Heartbeat) AppendTo(dst []byte) []byte { return AppendHeartbeat(dst) }
func (f *Close) AppendTo(dst []byte) []byte   { return AppendClose(dst, f) }
func (f *Error) AppendTo(dst []byte) []byte   { return AppendError(dst, f) }

// Auth field limits.
const (
	MaxMechanismLen    = 32
	MaxAuthResponseLen = 4096 // PLAIN: authzid, user and password of up to ~1.3 KiB each
)

// AppendAuth appends an Auth frame.
func AppendAuth(dst []byte, f *Auth) []byte {
	dst, start := beginFrame(dst, FrameAuth)
	dst = appendString(dst, f.Mechanism)
	dst = appendString(dst, f.Vhost)
	dst = appendBytes(dst, f.Response)
	return endFrame(dst, start)
}

// DecodeAuth decodes an Auth payload. Response aliases p.
func DecodeAuth(p []byte, f *Auth) error {
	d := decoder{buf: p, frame: FrameAuth}
	f.Mechanism = d.str("mechanism", MaxMechanismLen)
	f.Vhost = d.str("vhost", MaxNameLen)
	f.Response = d.bytes("response", MaxAuthResponseLen)
	return d.finish()
}

// PlainResponse builds a PLAIN response (RFC 4616) without an authzid.
func PlainResponse(user, password string) []byte {
	b := make([]byte, 0, 2+len(user)+len(password))
	b = append(b, 0)
	b = append(b, user...)
	b = append(b, 0)
	return append(b, password...)
}

// ParsePlainResponse splits a PLAIN response into its user and password.
// The authzid must be empty or equal to the user (no acting as another
// user); neither part may contain NUL, and the user may not be empty.
func ParsePlainResponse(r []byte) (user, password string, err error) {
	first := -1
	second := -1
	for i, c := range r {
		if c != 0 {
			continue
		}
		switch {
		case first < 0:
			first = i
		case second < 0:
			second = i
		default:
			return "", "", fmt.Errorf("%w: PLAIN response has more than two NUL separators", ErrBadValue)
		}
	}
	if second < 0 {
		return "", "", fmt.Errorf("%w: PLAIN response must be authzid NUL user NUL password", ErrBadValue)
	}
	authz, u, pw := r[:first], r[first+1:second], r[second+1:]
	if len(u) == 0 {
		return "", "", fmt.Errorf("%w: PLAIN response has an empty user", ErrBadValue)
	}
	if len(authz) > 0 && string(authz) != string(u) {
		return "", "", fmt.Errorf("%w: PLAIN authzid differs from the user: acting as another user is not supported", ErrBadValue)
	}
	return string(u), string(pw), nil
}

func (*Auth) FrameType() FrameType         { return FrameAuth }
func (f *Auth) AppendTo(dst []byte) []byte { return AppendAuth(dst, f) }
