// Package broker is CipherMQ's deterministic broker core.
package broker
