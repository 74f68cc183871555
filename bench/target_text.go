package bench

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
)

// The text protocol carries seed-shaped JSON envelopes only. A body that is
// not one (plain bytes, a modern envelope) travels base64 in "ciphertext" of
// a JSON object whose enc_session_key is this marker, and is unwrapped on
// receipt.
const textWrapMarker = "YmVuY2g=" // base64("bench")

// errTextRefused: the broker answered a text publish with an error line.
var errTextRefused = errors.New("bench: text publish refused")

type textEnvelope struct {
	MessageID     string `json:"message_id"`
	EncSessionKey string `json:"enc_session_key"`
	Nonce         string `json:"nonce"`
	Tag           string `json:"tag"`
	Ciphertext    string `json:"ciphertext"`
}

// textPublisher pipelines "publish" lines and matches the one-line replies
// to them in order.
type textPublisher struct {
	conn    net.Conn
	w       *bufio.Writer
	key     string
	exch    string
	mu      sync.Mutex
	waiting []*textPending
	readErr error
	done    chan struct{}
}

type textPending struct {
	done chan struct{}
	err  error
}

func (p *textPending) Wait(ctx context.Context) error {
	select {
	case <-p.done:
		return p.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// dialTransport connects over TCP, or TLS when cfg is set (handshake
// included).
func dialTransport(ctx context.Context, addr string, cfg *tls.Config) (net.Conn, error) {
	if cfg == nil {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", addr)
	}
	d := tls.Dialer{Config: cfg}
	return d.DialContext(ctx, "tcp", addr)
}

func dialTextPublisher(ctx context.Context, addr string, cfg *tls.Config, exch, key string) (*textPublisher, error) {
	c, err := dialTransport(ctx, addr, cfg)
	if err != nil {
		return nil, fmt.Errorf("bench: text publisher: %w", err)
	}
	p := &textPublisher{conn: c, w: bufio.NewWriterSize(c, 64<<10), exch: exch, key: key, done: make(chan struct{})}
	go p.readReplies()
	return p, nil
}

func (p *textPublisher) readReplies() {
	defer close(p.done)
	sc := bufio.NewScanner(p.conn)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		p.mu.Lock()
		if len(p.waiting) == 0 {
			p.mu.Unlock()
			continue // not ours to match (the broker never sends one)
		}
		w := p.waiting[0]
		p.waiting = p.waiting[1:]
		p.mu.Unlock()
		if !strings.HasPrefix(line, "ACK ") {
			w.err = fmt.Errorf("%w: %s", errTextRefused, line)
		}
		close(w.done)
	}
	err := sc.Err()
	if err == nil {
		err = errors.New("bench: text connection closed by the broker")
	}
	p.mu.Lock()
	p.readErr = err
	for _, w := range p.waiting {
		w.err = err
		close(w.done)
	}
	p.waiting = nil
	p.mu.Unlock()
}

func (p *textPublisher) Publish(_ context.Context, id string, body []byte) (Pending, error) {
	env := body
	if !bytes.HasPrefix(body, []byte("{")) {
		var err error
		env, err = json.Marshal(textEnvelope{
			MessageID: id, EncSessionKey: textWrapMarker, Nonce: "AA==", Tag: "AA==",
			Ciphertext: base64.StdEncoding.EncodeToString(body),
		})
		if err != nil {
			return nil, err
		}
	}
	w := &textPending{done: make(chan struct{})}
	p.mu.Lock()
	if p.readErr != nil {
		p.mu.Unlock()
		return nil, p.readErr
	}
	p.waiting = append(p.waiting, w)
	p.mu.Unlock()
	// Seed envelopes hold no newline (json.Marshal escapes them), so one
	// line is one command.
	fmt.Fprintf(p.w, "publish %s %s ", p.exch, p.key)
	p.w.Write(env)
	p.w.WriteByte('\n')
	if err := p.w.Flush(); err != nil {
		return nil, fmt.Errorf("bench: text publish: %w", err)
	}
	return w, nil
}

func (p *textPublisher) Close() error {
	err := p.conn.Close()
	<-p.done
	return err
}

// textConsumer subscribes with "consume" and acks every pushed message.
type textConsumer struct {
	conn net.Conn
	done chan struct{}
}

func dialTextConsumer(ctx context.Context, addr string, cfg *tls.Config, queue string, deliver Deliver) (*textConsumer, error) {
	c, err := dialTransport(ctx, addr, cfg)
	if err != nil {
		return nil, fmt.Errorf("bench: text consumer: %w", err)
	}
	br := bufio.NewReaderSize(c, 64<<10)
	if _, err := fmt.Fprintf(c, "consume %s\n", queue); err != nil {
		return nil, errors.Join(err, c.Close())
	}
	line, err := br.ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "Subscribed to queue" {
		return nil, errors.Join(fmt.Errorf("bench: text consume %s answered %q: %v", queue, line, err), c.Close())
	}
	t := &textConsumer{conn: c, done: make(chan struct{})}
	go t.loop(br, deliver)
	return t, nil
}

func (t *textConsumer) loop(br *bufio.Reader, deliver Deliver) {
	defer close(t.done)
	w := bufio.NewWriter(t.conn)
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return
		}
		rest, ok := bytes.CutPrefix(bytes.TrimRight(line, "\r\n"), []byte("Message: "))
		if !ok {
			continue // ACK_CONFIRMED replies to our acks
		}
		id, raw, ok := bytes.Cut(rest, []byte(" "))
		if !ok {
			continue
		}
		sid := string(id)
		body := unwrapText(raw)
		deliver(sid, nil, body)
		fmt.Fprintf(w, "ack %s\n", sid)
		if w.Flush() != nil {
			return
		}
	}
}

// unwrapText undoes the wrapping of Publish; a real seed envelope is
// returned as it came.
func unwrapText(raw []byte) []byte {
	var env textEnvelope
	if json.Unmarshal(raw, &env) == nil && env.EncSessionKey == textWrapMarker {
		if b, err := base64.StdEncoding.DecodeString(env.Ciphertext); err == nil {
			return b
		}
	}
	return bytes.Clone(raw)
}

func (t *textConsumer) Close() error {
	err := t.conn.Close()
	<-t.done
	return err
}
