package sim

import (
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/ciphermq/ciphermq/broker/access"
)

// Authenticated mode (Config.Auth): the broker gets a users database and
// every client logs in with PLAIN. Each honest client is its own user with
// permissions on what it uses and nothing else; the hostile tenant (see
// hostile.go) is one more user.

// AuthFraction is the share of swarm seeds that run authenticated. The
// choice comes from its own generator, seeded from the run's seed, so the
// other seeds' runs (and trace hashes) are the ones they were without it.
const AuthFraction = 0.3

// authDrawn says whether a swarm seed runs authenticated.
func authDrawn(seed uint64) bool {
	return rand.New(rand.NewPCG(seed, 0xA07E1D)).Float64() < AuthFraction
}

// wrongPasswordChance is how often an honest client's first login of an
// authenticated run uses a wrong password (it must be refused with code
// 600, then it retries with the right one).
const wrongPasswordChance = 0.15

// simArgon2 are cheap argon2id parameters: the simulator checks who may log
// in, not how much a hash costs, and seeds must stay fast.
var simArgon2 = access.Argon2Params{Memory: 8, Time: 1, Threads: 1, SaltLen: 8, KeyLen: 16}

// hashes caches the PHC string of each simulated user: the salt is derived
// from the name, so a user's hash is a constant, made once per process.
var hashes sync.Map // user name -> PHC string

func passwordOf(user string) string { return "pw-" + user }

func phcOf(user string) string {
	if h, ok := hashes.Load(user); ok {
		return h.(string)
	}
	salt := sha256.Sum256([]byte("ciphermq-sim-salt/" + user))
	h, err := access.HashPassword([]byte(passwordOf(user)), salt[:simArgon2.SaltLen], simArgon2)
	if err != nil {
		panic(fmt.Sprintf("sim: hash the password of %s: %v", user, err))
	}
	hashes.Store(user, h)
	return h
}

// Names of the hostile tenant's user and of its resources. Every name it
// may configure starts with "m.".
const (
	hostileUser  = "tenant"
	hostilePre   = "m."
	hostileEx    = "m.ex"
	hostileTap   = "m.tap"
	hostileJam   = "m.jam"
	hostileExtra = "m.extra"
	// sharedExchange is the one honest exchange the tenant is granted
	// write (and read) on: its publishes of honest ids there must not
	// shadow the honest publishes (dedup is scoped per user).
	sharedExchange = exTopic
)

// hostileLimits bound the tenant: two queues (m.tap and m.jam), one
// exchange, three bindings, two consumers. Its third queue is refused
// with CodeResourceLimit.
var hostileLimits = access.Limits{MaxQueues: 2, MaxExchanges: 1, MaxBindings: 3, MaxConsumers: 2}

// usersFile is the users file of an authenticated run.
func (st *runState) usersFile() *access.File {
	f := &access.File{Version: access.FileVersion}
	add := func(name string, p access.Permissions, lim access.Limits) {
		f.Users = append(f.Users, access.User{Name: name, PasswordHash: phcOf(name),
			Permissions: map[string]access.Permissions{access.DefaultVhost: p}, Limits: lim})
	}
	for i := 0; i < st.work.Publishers; i++ {
		// A publisher writes to the three exchanges, nothing else.
		add("p"+strconv.Itoa(i), access.Permissions{Write: "^(" + exDirect + "|" + exFanout + "|" + exTopic + "|" + exGrammar + ")$"}, access.Limits{})
	}
	for i := 0; i < st.work.Receivers; i++ {
		// A receiver reads its own queue and the dead-letter queue.
		add("r"+strconv.Itoa(i), access.Permissions{Read: "^(" + st.topo.queues[i] + "|" + deadLetterQueue + "|" + deadLetterChain + ")$"}, access.Limits{})
	}
	mine := `^m\..*$`
	add(hostileUser, access.Permissions{
		Configure: mine,
		Write:     mine + "|^" + sharedExchange + "$",
		Read:      mine + "|^" + sharedExchange + "$",
	}, hostileLimits)
	if st.loadOn {
		// The hostile-load node: everything on its own names, no limits
		// beyond the broker's (its attacks are within what it is allowed).
		own := `^l\..*$`
		add(loadUser, access.Permissions{Configure: own, Write: own, Read: own}, access.Limits{})
	}
	return f
}

// setupAuth gives the broker the users database.
func (st *runState) setupAuth() {
	db, err := access.NewDB(st.usersFile(), access.Limits{})
	if err != nil {
		panic(fmt.Sprintf("sim: users database: %v", err))
	}
	st.brk.scf.Users = func() *access.DB { return db }
}

// pollAuth hands a session's pending PLAIN password check to the
// "verifier": the password is checked at once, and the verdict delivered
// after a virtual delay drawn from the run's generator (argon2id takes
// tens of milliseconds in a real broker, off its event loop).
func (b *brokerNode) pollAuth(bc *brokerConn) {
	pc, ok := bc.lc.TakePasswordCheck()
	if !ok {
		return
	}
	phc := pc.PHC
	if phc == "" {
		phc = access.DummyPHC() // unknown user: same work, then failure
	}
	good, err := access.VerifyPassword(phc, pc.Password)
	good = good && err == nil && pc.PHC != ""
	inc := b.inc
	b.w.after(b.w.rng.between(time.Millisecond, 40*time.Millisecond), func() {
		if !b.up || b.inc != inc || bc.gone {
			return
		}
		b.w.trace.begin(b.w.Now(), "broker").word("password-checked").num("conn", uint64(bc.c.ID)).
			str("user", pc.User).str("ok", strconv.FormatBool(good)).end()
		bc.lc.PasswordChecked(good, b.w.Now().Time())
		b.settle()
	})
}
