package durable

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	tcnetwork "github.com/testcontainers/testcontainers-go/network"
)

// ContainerBroker runs the broker in a container built FROM scratch from
// the static binary (no registry involved), on its own Docker network. A
// kill is `docker kill` (SIGKILL) and a restart `docker start` of the same
// container, whose writable layer keeps /data. Pause and Cut are the extra
// container faults.
type ContainerBroker struct {
	Bin string // a CGO_ENABLED=0 ciphermq binary

	ctr  *testcontainers.DockerContainer
	net  *testcontainers.DockerNetwork
	cli  *testcontainers.DockerClient
	addr string
}

// Addr implements Broker.
func (b *ContainerBroker) Addr() string { return b.addr }

// Start implements Broker: the first call builds the image and creates the
// container; later calls start the killed container again.
func (b *ContainerBroker) Start(ctx context.Context) error {
	if b.ctr == nil {
		if err := b.create(ctx); err != nil {
			return err
		}
	} else if err := b.ctr.Start(ctx); err != nil {
		return fmt.Errorf("restart container: %w", err)
	}
	return b.waitReady(ctx)
}

func (b *ContainerBroker) create(ctx context.Context) error {
	dir, err := os.MkdirTemp("", "ciphermq-image-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin, err := os.ReadFile(b.Bin)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "ciphermq"), bin, 0o755); err != nil {
		return err
	}
	// The broker listens on the container's network, which this test
	// created and only its own containers reach: anonymous access is the
	// operator's explicit choice here (without it the broker refuses to
	// listen beyond loopback with no users configured).
	dockerfile := "FROM scratch\nCOPY ciphermq /ciphermq\n" +
		`ENTRYPOINT ["/ciphermq", "server", "--listen", "0.0.0.0:5672", "--allow-anonymous", "--data-dir", "/data", "--heartbeat", "1s", "--log-level", "warn"]` + "\n"
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(dockerfile), 0o644); err != nil {
		return err
	}
	nw, err := tcnetwork.New(ctx)
	if err != nil {
		return fmt.Errorf("create network: %w", err)
	}
	b.net = nw
	ctr, err := testcontainers.GenericContainer(ctx, testcontainers.GenericContainerRequest{
		ContainerRequest: testcontainers.ContainerRequest{
			FromDockerfile: testcontainers.FromDockerfile{Context: dir, Dockerfile: "Dockerfile"},
			ExposedPorts:   []string{"5672/tcp"},
			Networks:       []string{nw.Name},
		},
		Started: true,
	})
	if ctr != nil {
		b.ctr, _ = ctr.(*testcontainers.DockerContainer)
	}
	if err != nil {
		return fmt.Errorf("start container: %w", err)
	}
	if b.ctr == nil {
		return errors.New("testcontainers returned an unexpected container type")
	}
	b.cli, err = testcontainers.NewDockerClientWithOpts(ctx)
	return err
}

// waitReady finds the (possibly new) host port and waits until a native
// handshake succeeds.
func (b *ContainerBroker) waitReady(ctx context.Context) error {
	deadline := time.Now().Add(30 * time.Second)
	var last error
	for time.Now().Before(deadline) {
		// The Docker Engine is local (the machine .ci/run runs on) and
		// publishes ports on all host addresses; Host() may name a gateway
		// the test cannot reach, so dial loopback.
		host, err := "127.0.0.1", error(nil)
		if err == nil {
			var port interface{ Port() string }
			if port, err = b.ctr.MappedPort(ctx, "5672/tcp"); err == nil {
				b.addr = net.JoinHostPort(host, port.Port())
				var c *conn
				if c, err = dial(ctx, b.addr, "probe"); err == nil {
					c.close()
					return nil
				}
			}
		}
		last = err
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("broker container not ready within 30s: %v", last)
}

// Kill implements Broker: SIGKILL to the container's process.
func (b *ContainerBroker) Kill(ctx context.Context) error {
	if _, err := b.cli.ContainerKill(ctx, b.ctr.GetContainerID(), client.ContainerKillOptions{Signal: "KILL"}); err != nil {
		return fmt.Errorf("docker kill: %w", err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		st, err := b.ctr.State(ctx)
		if err == nil && !st.Running {
			return nil
		}
		time.Sleep(50 * time.Millisecond) // polling docker for the state change, with a deadline
	}
	return errors.New("container still running 30s after SIGKILL")
}

// Pause freezes the broker (docker pause) for d, then thaws it.
func (b *ContainerBroker) Pause(ctx context.Context, d time.Duration) error {
	id := b.ctr.GetContainerID()
	if _, err := b.cli.ContainerPause(ctx, id, client.ContainerPauseOptions{}); err != nil {
		return fmt.Errorf("docker pause: %w", err)
	}
	t := time.NewTimer(d) // the fault's length, not a correctness wait
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
	_, err := b.cli.ContainerUnpause(context.WithoutCancel(ctx), id, client.ContainerUnpauseOptions{})
	return err
}

// Cut disconnects the container from its network for d, then reconnects
// it: established connections go silent rather than reset.
func (b *ContainerBroker) Cut(ctx context.Context, d time.Duration) error {
	id := b.ctr.GetContainerID()
	if _, err := b.cli.NetworkDisconnect(ctx, b.net.ID, client.NetworkDisconnectOptions{Container: id, Force: true}); err != nil {
		return fmt.Errorf("docker network disconnect: %w", err)
	}
	t := time.NewTimer(d) // the fault's length, not a correctness wait
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
	if _, err := b.cli.NetworkConnect(context.WithoutCancel(ctx), b.net.ID, client.NetworkConnectOptions{Container: id}); err != nil {
		return fmt.Errorf("docker network connect: %w", err)
	}
	return b.waitReady(ctx)
}

// Terminate removes the container, its image and its network.
func (b *ContainerBroker) Terminate(ctx context.Context) error {
	var errs []error
	if b.ctr != nil {
		errs = append(errs, b.ctr.Terminate(ctx))
	}
	if b.net != nil {
		errs = append(errs, b.net.Remove(ctx))
	}
	if b.cli != nil {
		errs = append(errs, b.cli.Close())
	}
	return errors.Join(errs...)
}
