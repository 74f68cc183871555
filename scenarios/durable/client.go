package durable

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"time"

	"github.com/ciphermq/ciphermq/broker/wire"
)

// conn is one native-protocol connection: frames out through a buffered
// writer, frames in through wire.Reader.
type conn struct {
	nc net.Conn
	w  *bufio.Writer
	r  *wire.Reader
}

func dial(ctx context.Context, addr, name string) (*conn, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	c := &conn{nc: nc, w: bufio.NewWriter(nc), r: wire.NewReader(nc, 0)}
	if err := c.send(wire.AppendHello(wire.AppendPreamble(nil), &wire.Hello{Version: wire.ProtocolVersion, ClientName: name})); err != nil {
		nc.Close()
		return nil, err
	}
	f, err := c.next(10 * time.Second)
	if err != nil {
		nc.Close()
		return nil, err
	}
	if _, ok := f.(*wire.HelloOK); !ok {
		nc.Close()
		return nil, fmt.Errorf("hello answered with %#v", f)
	}
	return c, nil
}

func (c *conn) send(b []byte) error {
	c.nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.w.Write(b); err != nil {
		return err
	}
	return c.w.Flush()
}

// next reads the next frame other than a heartbeat, answering heartbeats;
// timeout 0 waits for ever.
func (c *conn) next(timeout time.Duration) (wire.Frame, error) {
	for {
		var deadline time.Time
		if timeout > 0 {
			deadline = time.Now().Add(timeout)
		}
		c.nc.SetReadDeadline(deadline)
		typ, payload, err := c.r.ReadFrame()
		if err != nil {
			return nil, err
		}
		if typ == wire.FrameHeartbeat {
			if err := c.send(wire.AppendHeartbeat(nil)); err != nil {
				return nil, err
			}
			continue
		}
		f, err := wire.DecodeFrame(typ, payload)
		if err != nil {
			return nil, err
		}
		if d, ok := f.(*wire.Deliver); ok {
			// Deliver aliases the reader's buffer.
			d.MessageID = append([]byte(nil), d.MessageID...)
			d.Body = append([]byte(nil), d.Body...)
			d.Queue = append([]byte(nil), d.Queue...)
		}
		return f, nil
	}
}

// declare declares the durable queue and binds it; every connection does
// it (idempotent), so a restarted broker needs nothing else.
func (c *conn) declare(queue, exchange, key string) error {
	var b []byte
	b = wire.AppendDeclareQueue(b, &wire.DeclareQueue{ReqID: 1, Name: queue, Durable: true})
	b = wire.AppendBind(b, &wire.Bind{ReqID: 2, Exchange: exchange, Queue: queue, Key: key})
	if err := c.send(b); err != nil {
		return err
	}
	for want := uint64(1); want <= 2; want++ {
		f, err := c.next(10 * time.Second)
		if err != nil {
			return err
		}
		if ok, isOK := f.(*wire.OK); !isOK || ok.ReqID != want {
			return fmt.Errorf("declare: request %d answered %#v", want, f)
		}
	}
	return nil
}

func (c *conn) close() { c.nc.Close() }
