package access

// Tags a user may carry. They grant nothing on the message path; the
// operations API uses them (monitoring: read every object's stats;
// management: the management API; administrator: everything there,
// including closing connections and deleting other users' objects).
const (
	TagAdministrator = "administrator"
	TagManagement    = "management"
	TagMonitoring    = "monitoring"
)

// DefaultVhost is the virtual host that holds the default topology
// (default_exchange, default_queue) and every object of a broker that has
// no users file.
const DefaultVhost = "/"

// Guest is the user that text-protocol connections act as by default, and
// the identity of every connection of a broker without a users file.
const Guest = "guest"

// User is one entry of the users file (JSON; see docs/users.md).
type User struct {
	Name string `json:"name"`
	// PasswordHash is an argon2id PHC string
	// ($argon2id$v=19$m=...,t=...,p=...$salt$hash). Empty: the user cannot
	// log in with PLAIN (EXTERNAL, or the text protocol's mapped user, only).
	PasswordHash string   `json:"password_hash,omitempty"`
	Tags         []string `json:"tags,omitempty"`
	// Permissions by virtual host name. A vhost absent here is not
	// accessible to the user at all.
	Permissions map[string]Permissions `json:"permissions,omitempty"`
	// Limits bound what the user may hold at once; zero fields take the
	// server's defaults (see Limits).
	Limits Limits `json:"limits,omitzero"`
}

// Permissions are RabbitMQ's three regular expressions over resource
// names, matched against the WHOLE name (anchored, as if written
// ^(?:expr)$): "" matches nothing, ".*" everything, "orders" only
// "orders". RabbitMQ searches anywhere in the name instead; anchoring makes
// a pattern never grant more than it spells (fail closed), and RabbitMQ
// patterns written with ^...$ or a trailing .* mean the same here. Deny's
// expressions refuse what they match even when a grant matches too.
type Permissions struct {
	Configure string `json:"configure"`
	Write     string `json:"write"`
	Read      string `json:"read"`
	Deny      Deny   `json:"deny,omitzero"`
}

// Deny lists expressions that refuse an operation of that kind on the
// resources they match, whatever the grants say. "" denies nothing.
type Deny struct {
	Configure string `json:"configure,omitempty"`
	Write     string `json:"write,omitempty"`
	Read      string `json:"read,omitempty"`
}

// Limits bound what one user may hold across the whole broker. A zero
// field means "the server's default"; a negative one means "no limit".
type Limits struct {
	MaxConnections int `json:"max_connections,omitempty"`
	MaxQueues      int `json:"max_queues,omitempty"`
	MaxExchanges   int `json:"max_exchanges,omitempty"`
	MaxBindings    int `json:"max_bindings,omitempty"`
	MaxConsumers   int `json:"max_consumers,omitempty"`
	// MaxQueuedBytes is the user's memory share: the bytes its published
	// messages may hold in the broker (broker.Usage.QueuedBytes, in any
	// queue, until acked) before its publishes are refused with 503. The
	// server's default is a tenth of its memory high watermark.
	MaxQueuedBytes int `json:"max_queued_bytes,omitempty"`
}

// File is the users file: a format version and the users.
type File struct {
	Version int    `json:"version"` // FileVersion
	Users   []User `json:"users"`
}

// FileVersion is the users file format this code writes and reads.
const FileVersion = 1
