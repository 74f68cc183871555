package mgmtclient

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// ListColumns are the columns `ciphermq ctl list WHAT` shows (dotted paths
// into each object; nil for an unknown listing).
func ListColumns(what string) []string {
	return map[string][]string{
		"queues":      {"vhost", "name", "messages_ready", "messages_unacknowledged", "consumers", "message_stats.publish_details.rate", "message_stats.deliver_get_details.rate", "message_stats.ack_details.rate"},
		"exchanges":   {"vhost", "name", "type", "bindings", "published", "unroutable"},
		"bindings":    {"vhost", "source", "destination", "routing_key"},
		"connections": {"name", "peer_host", "protocol", "user", "vhost", "ssl", "consumers", "messages_unacknowledged"},
		"consumers":   {"vhost", "queue", "consumer_tag", "connection", "prefetch_count", "messages_unacknowledged"},
	}[what]
}

// DeadLetterColumns are the columns of a dead-letter listing.
var DeadLetterColumns = []string{"id", "reason", "size", "format", "sender", "signature_valid", "exchange", "routing_key", "deliveries", "problem"}

// field reads a dotted path from a decoded JSON object.
func field(m map[string]any, path string) any {
	var v any = m
	for _, k := range strings.Split(path, ".") {
		mm, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = mm[k]
	}
	return v
}

// Table prints rows as an aligned table of cols (dotted paths): the header
// shortens message_stats.X_details.rate to X/s; a missing value is "-",
// a rate has one decimal, another number none.
func Table(w io.Writer, cols []string, rows []map[string]any) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	head := make([]string, len(cols))
	for i, c := range cols {
		c = strings.TrimPrefix(c, "message_stats.")
		c = strings.TrimSuffix(c, "_details.rate")
		if strings.HasSuffix(cols[i], ".rate") {
			c += "/s"
		}
		head[i] = c
	}
	fmt.Fprintln(tw, strings.Join(head, "\t"))
	for _, r := range rows {
		cells := make([]string, len(cols))
		for i, c := range cols {
			switch v := field(r, c).(type) {
			case nil:
				cells[i] = "-"
			case float64:
				if strings.HasSuffix(c, ".rate") {
					cells[i] = fmt.Sprintf("%.1f", v)
				} else {
					cells[i] = fmt.Sprintf("%.0f", v)
				}
			default:
				cells[i] = fmt.Sprint(v)
			}
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	tw.Flush()
}

// PrintDeadLetters prints a dead-letter listing: a count line and the
// table of DeadLetterColumns.
func PrintDeadLetters(w io.Writer, d DeadLetters) {
	fmt.Fprintf(w, "%s: %d message(s) (metadata only)\n", d.Queue, d.Total)
	Table(w, DeadLetterColumns, d.Messages)
}

// overviewKeys are the overview's lines, in order.
var overviewKeys = []string{"queue_totals.messages_ready", "queue_totals.messages_unacknowledged", "object_totals.queues", "object_totals.exchanges",
	"object_totals.consumers", "object_totals.connections", "message_stats.publish_details.rate", "message_stats.deliver_get_details.rate",
	"message_stats.ack_details.rate", "health.mem_used", "health.mem_limit", "health.mem_alarm", "health.durable", "health.storage_failed"}

// PrintOverview prints the overview's totals, rates and health, one
// "key value" line each (keys the answer lacks are left out; counts
// without decimals).
func PrintOverview(w io.Writer, o map[string]any) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, k := range overviewKeys {
		v := field(o, k)
		if v == nil {
			continue
		}
		if f, ok := v.(float64); ok && !strings.HasSuffix(k, ".rate") {
			v = fmt.Sprintf("%.0f", f)
		}
		fmt.Fprintf(tw, "%s\t%v\n", k, v)
	}
	tw.Flush()
}
