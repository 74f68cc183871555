package wiretest

import "github.com/ciphermq/ciphermq/broker/wire"

// SeedEnvelope is a publish JSON exactly as the reference Sender.py writes
// it (json.dumps with default separators, its key order); the values are
// shortened but keep their shape.
const SeedEnvelope = `{"message_id": "3f2b8c1e-9d4a-4c7b-8e2f-1a6d5c4b3a29", "enc_session_key": "U2Vzc2lvbktleQ==", "nonce": "bm9uY2Vub25jZW5vbmNlMTY=", "tag": "dGFnLXRhZy10YWctdGFnLQ==", "ciphertext": "Y2lwaGVydGV4dA=="}`

// SeedFields are the four string fields a reference envelope needs besides
// message_id (the reference server refuses an envelope without them), with
// short dummy values, written to follow another field: `,"ciphertext":...`.
const SeedFields = `,"ciphertext":"Y3Q=","nonce":"bm9uY2U=","tag":"dGFn","enc_session_key":"a2V5"`

// SeedEnvelopeID is SeedEnvelope's message_id.
const SeedEnvelopeID = "3f2b8c1e-9d4a-4c7b-8e2f-1a6d5c4b3a29"

// TextCommandCase is one text line and what ParseCommand must make of it.
type TextCommandCase struct {
	Name string
	Line string // without the terminator
	// Want is the parsed command (zero when Err is set).
	Want wire.TextCommand
	// Err is the sentinel ParseCommand's error must match (errors.Is).
	Err error
	// Reply is the line AppendErrorReply writes for that error, with "\n".
	Reply string
}

func bs(v string) []byte { return []byte(v) }

// TextCommandCases returns the golden table of text commands.
func TextCommandCases() []TextCommandCase {
	return []TextCommandCase{
		{Name: "declare_queue", Line: "declare_queue jobs",
			Want: wire.TextCommand{Verb: wire.TextDeclareQueue, Queue: bs("jobs")}},
		{Name: "declare_queue extra args ignored", Line: "declare_queue jobs durable",
			Want: wire.TextCommand{Verb: wire.TextDeclareQueue, Queue: bs("jobs")}},
		{Name: "declare_queue missing name", Line: "declare_queue",
			Err: wire.ErrMissingQueueName, Reply: "Missing queue name\n"},
		{Name: "declare_queue name too long", Line: "declare_queue " + Repeat('q', 256),
			Err: wire.ErrInvalidArgument, Reply: "Error: queue name is 256 bytes, the limit is 255\n"},
		{Name: "declare_exchange default type", Line: "declare_exchange logs",
			Want: wire.TextCommand{Verb: wire.TextDeclareExchange, Exchange: bs("logs"), ExchangeType: wire.ExchangeDirect}},
		{Name: "declare_exchange fanout", Line: "declare_exchange logs fanout",
			Want: wire.TextCommand{Verb: wire.TextDeclareExchange, Exchange: bs("logs"), ExchangeType: wire.ExchangeFanout, ExchangeTypeSet: true}},
		{Name: "declare_exchange topic", Line: "declare_exchange logs topic",
			Want: wire.TextCommand{Verb: wire.TextDeclareExchange, Exchange: bs("logs"), ExchangeType: wire.ExchangeTopic, ExchangeTypeSet: true}},
		{Name: "declare_exchange explicit direct", Line: "declare_exchange logs direct",
			Want: wire.TextCommand{Verb: wire.TextDeclareExchange, Exchange: bs("logs"), ExchangeType: wire.ExchangeDirect, ExchangeTypeSet: true}},
		{Name: "declare_exchange bad type", Line: "declare_exchange logs headers",
			Err: wire.ErrInvalidArgument, Reply: "Error: unknown exchange type \"headers\": use direct, fanout or topic\n"},
		{Name: "declare_exchange missing name", Line: "declare_exchange",
			Err: wire.ErrMissingExchangeName, Reply: "Missing exchange name\n"},
		{Name: "bind exchange first (9bc8b23)", Line: "bind default_exchange default_queue default_key",
			Want: wire.TextCommand{Verb: wire.TextBind, BindArgs: [3][]byte{bs("default_exchange"), bs("default_queue"), bs("default_key")}}},
		{Name: "bind queue first (0bcf2a7)", Line: "bind ciphermq1_queue ciphermq1_exchange ciphermq1_key",
			Want: wire.TextCommand{Verb: wire.TextBind, BindArgs: [3][]byte{bs("ciphermq1_queue"), bs("ciphermq1_exchange"), bs("ciphermq1_key")}}},
		{Name: "bind two args", Line: "bind x q",
			Err: wire.ErrMissingParameters, Reply: "Missing parameters\n"},
		{Name: "bind no args", Line: "bind",
			Err: wire.ErrMissingParameters, Reply: "Missing parameters\n"},
		{Name: "publish seed envelope", Line: "publish default_exchange default_key " + SeedEnvelope,
			Want: wire.TextCommand{Verb: wire.TextPublish, Exchange: bs("default_exchange"), RoutingKey: bs("default_key"),
				MessageID: bs(SeedEnvelopeID), Body: bs(SeedEnvelope)}},
		{Name: "publish compact json, tabs and CR", Line: "publish\tx\tk  {\"message_id\":\"m1\",\"b\":[1,{\"message_id\":2}]" + SeedFields + "}\r",
			Want: wire.TextCommand{Verb: wire.TextPublish, Exchange: bs("x"), RoutingKey: bs("k"),
				MessageID: bs("m1"), Body: bs(`{"message_id":"m1","b":[1,{"message_id":2}]` + SeedFields + `}`)}},
		{Name: "publish escaped id", Line: `publish x k {"message_id":"a\u0062c"` + SeedFields + `}`,
			Want: wire.TextCommand{Verb: wire.TextPublish, Exchange: bs("x"), RoutingKey: bs("k"),
				MessageID: bs("abc"), Body: bs(`{"message_id":"a\u0062c"` + SeedFields + `}`)}},
		{Name: "publish empty id is the server's call", Line: `publish x k {"message_id":""` + SeedFields + `}`,
			Want: wire.TextCommand{Verb: wire.TextPublish, Exchange: bs("x"), RoutingKey: bs("k"),
				MessageID: bs(""), Body: bs(`{"message_id":""` + SeedFields + `}`)}},
		{Name: "publish escaped field name", Line: `publish x k {"message_id":"e1","\u006eonce":"n","ciphertext":"c","tag":"t","enc_session_key":"k"}`,
			Want: wire.TextCommand{Verb: wire.TextPublish, Exchange: bs("x"), RoutingKey: bs("k"),
				MessageID: bs("e1"), Body: bs(`{"message_id":"e1","\u006eonce":"n","ciphertext":"c","tag":"t","enc_session_key":"k"}`)}},
		{Name: "publish missing ciphertext", Line: `publish x k {"message_id":"m1","nonce":"n","tag":"t","enc_session_key":"k"}`,
			Err: wire.ErrInvalidMessage, Reply: "Invalid message format: missing field `ciphertext`\n"},
		{Name: "publish missing nonce", Line: `publish x k {"message_id":"m1","ciphertext":"c","tag":"t","enc_session_key":"k"}`,
			Err: wire.ErrInvalidMessage, Reply: "Invalid message format: missing field `nonce`\n"},
		{Name: "publish missing tag", Line: `publish x k {"message_id":"m1","ciphertext":"c","nonce":"n","enc_session_key":"k"}`,
			Err: wire.ErrInvalidMessage, Reply: "Invalid message format: missing field `tag`\n"},
		{Name: "publish missing enc_session_key", Line: `publish x k {"message_id":"m1","ciphertext":"c","nonce":"n","tag":"t"}`,
			Err: wire.ErrInvalidMessage, Reply: "Invalid message format: missing field `enc_session_key`\n"},
		{Name: "publish missing fields reported in the reference's order", Line: `publish x k {"enc_session_key":"k","message_id":"m1"}`,
			Err: wire.ErrInvalidMessage, Reply: "Invalid message format: missing field `ciphertext`\n"},
		{Name: "publish numeric nonce", Line: `publish x k {"message_id":"m1","ciphertext":"c","nonce":12,"tag":"t","enc_session_key":"k"}`,
			Err: wire.ErrInvalidMessage, Reply: "Invalid message format: invalid type: integer `12`, expected a string (field `nonce`)\n"},
		{Name: "publish float tag", Line: `publish x k {"message_id":"m1","ciphertext":"c","nonce":"n","tag":-1.5e3,"enc_session_key":"k"}`,
			Err: wire.ErrInvalidMessage, Reply: "Invalid message format: invalid type: floating point `-1.5e3`, expected a string (field `tag`)\n"},
		{Name: "publish object ciphertext", Line: `publish x k {"message_id":"m1","ciphertext":{"a":"b"},"nonce":"n","tag":"t","enc_session_key":"k"}`,
			Err: wire.ErrInvalidMessage, Reply: "Invalid message format: invalid type: map, expected a string (field `ciphertext`)\n"},
		{Name: "publish array enc_session_key", Line: `publish x k {"message_id":"m1","ciphertext":"c","nonce":"n","tag":"t","enc_session_key":["k"]}`,
			Err: wire.ErrInvalidMessage, Reply: "Invalid message format: invalid type: sequence, expected a string (field `enc_session_key`)\n"},
		{Name: "publish null nonce", Line: `publish x k {"message_id":"m1","ciphertext":"c","nonce":null,"tag":"t","enc_session_key":"k"}`,
			Err: wire.ErrInvalidMessage, Reply: "Invalid message format: invalid type: null, expected a string (field `nonce`)\n"},
		{Name: "publish boolean tag", Line: `publish x k {"message_id":"m1","ciphertext":"c","nonce":"n","tag":true,"enc_session_key":"k"}`,
			Err: wire.ErrInvalidMessage, Reply: "Invalid message format: invalid type: boolean `true`, expected a string (field `tag`)\n"},
		{Name: "publish duplicate nonce", Line: `publish x k {"message_id":"m1","ciphertext":"c","nonce":"n","nonce":"n","tag":"t","enc_session_key":"k"}`,
			Err: wire.ErrInvalidMessage, Reply: "Invalid message format: duplicate field `nonce`\n"},
		{Name: "publish missing json", Line: "publish default_exchange default_key",
			Err: wire.ErrMissingParameters, Reply: "Missing parameters\n"},
		{Name: "publish missing everything", Line: "publish",
			Err: wire.ErrMissingParameters, Reply: "Missing parameters\n"},
		{Name: "publish invalid json", Line: `publish x k {"message_id": "m1"`,
			Err: wire.ErrInvalidMessage, Reply: "Invalid message format: not valid JSON\n"},
		{Name: "publish invalid UTF-8", Line: "publish x k {\"message_id\":\"\x96\"}",
			Err: wire.ErrInvalidMessage, Reply: "Invalid message format: not valid UTF-8\n"},
		{Name: "publish_batch invalid UTF-8", Line: "publish_batch x k [{\"message_id\":\"a\",\"b\":\"\xff\"}]",
			Err: wire.ErrInvalidMessage, Reply: "Invalid message format: not valid UTF-8\n"},
		{Name: "publish trailing data", Line: `publish x k {"message_id":"m1"} {}`,
			Err: wire.ErrInvalidMessage, Reply: "Invalid message format: not valid JSON\n"},
		{Name: "publish not an object", Line: `publish x k ["m1"]`,
			Err: wire.ErrInvalidMessage, Reply: "Invalid message format: expected one JSON object\n"},
		{Name: "publish no message_id", Line: `publish x k {"nonce":"n"}`,
			Err: wire.ErrInvalidMessage, Reply: "Invalid message format: missing field `message_id`\n"},
		{Name: "publish numeric message_id", Line: `publish x k {"message_id":7}`,
			Err: wire.ErrInvalidMessage, Reply: "Invalid message format: invalid type: integer `7`, expected a string (field `message_id`)\n"},
		{Name: "publish duplicate message_id", Line: `publish x k {"message_id":"a","message_id":"b"}`,
			Err: wire.ErrInvalidMessage, Reply: "Invalid message format: duplicate field `message_id`\n"},
		{Name: "publish id with a space", Line: `publish x k {"message_id":"a b"` + SeedFields + `}`,
			Err: wire.ErrInvalidMessage, Reply: "Invalid message format: message_id contains a space or control character\n"},
		{Name: "publish id with an escaped newline", Line: `publish x k {"message_id":"a\nb"` + SeedFields + `}`,
			Err: wire.ErrInvalidMessage, Reply: "Invalid message format: message_id contains a space or control character\n"},
		{Name: "publish id too long", Line: `publish x k {"message_id":"` + Repeat('m', 256) + `"` + SeedFields + `}`,
			Err: wire.ErrInvalidMessage, Reply: "Invalid message format: message_id is 256 bytes, the limit is 255\n"},
		{Name: "publish_batch", Line: `publish_batch x k [{"message_id":"a","c":"1"` + SeedFields + `}, {"c":"2","message_id":"b"` + SeedFields + `}]`,
			Want: wire.TextCommand{Verb: wire.TextPublishBatch, Exchange: bs("x"), RoutingKey: bs("k"),
				Batch: []wire.TextMessage{
					{MessageID: bs("a"), Body: bs(`{"message_id":"a","c":"1"` + SeedFields + `}`)},
					{MessageID: bs("b"), Body: bs(`{"c":"2","message_id":"b"` + SeedFields + `}`)},
				}}},
		{Name: "publish_batch empty", Line: `publish_batch x k []`,
			Err: wire.ErrInvalidMessage, Reply: "Invalid message format: empty batch: send at least one envelope\n"},
		{Name: "publish_batch object", Line: `publish_batch x k {"message_id":"a"}`,
			Err: wire.ErrInvalidMessage, Reply: "Invalid message format: expected a JSON array of envelopes\n"},
		{Name: "publish_batch bad element", Line: `publish_batch x k [{"message_id":"a"` + SeedFields + `},{"x":1}]`,
			Err: wire.ErrInvalidMessage, Reply: "Invalid message format: envelope 1: missing field `message_id`\n"},
		{Name: "publish_batch element without a tag", Line: `publish_batch x k [{"message_id":"a"` + SeedFields + `},{"message_id":"b","ciphertext":"c","nonce":"n","enc_session_key":"k"}]`,
			Err: wire.ErrInvalidMessage, Reply: "Invalid message format: envelope 1: missing field `tag`\n"},
		{Name: "publish_batch non-object element", Line: `publish_batch x k [{"message_id":"a"` + SeedFields + `},3]`,
			Err: wire.ErrInvalidMessage, Reply: "Invalid message format: envelope 1: expected a JSON object\n"},
		{Name: "consume", Line: "consume default_queue",
			Want: wire.TextCommand{Verb: wire.TextConsume, Queue: bs("default_queue")}},
		{Name: "consume missing queue", Line: "consume ",
			Err: wire.ErrMissingQueueName, Reply: "Missing queue name\n"},
		{Name: "fetch", Line: "fetch jobs",
			Want: wire.TextCommand{Verb: wire.TextFetch, Queue: bs("jobs")}},
		{Name: "fetch missing queue", Line: "fetch",
			Err: wire.ErrMissingQueueName, Reply: "Missing queue name\n"},
		{Name: "ack", Line: "ack " + SeedEnvelopeID,
			Want: wire.TextCommand{Verb: wire.TextAck, MessageID: bs(SeedEnvelopeID)}},
		{Name: "ack first token only", Line: "ack m1 m2",
			Want: wire.TextCommand{Verb: wire.TextAck, MessageID: bs("m1")}},
		{Name: "ack missing id", Line: "ack",
			Err: wire.ErrMissingMessageID, Reply: "Missing message ID\n"},
		{Name: "stats", Line: "stats", Want: wire.TextCommand{Verb: wire.TextStats}},
		{Name: "reset_stats", Line: "reset_stats", Want: wire.TextCommand{Verb: wire.TextResetStats}},
		{Name: "surrounding whitespace", Line: "  stats \t", Want: wire.TextCommand{Verb: wire.TextStats}},
		{Name: "empty line", Line: "", Err: wire.ErrUnknownCommand, Reply: "Unknown command\n"},
		{Name: "blank line", Line: "   ", Err: wire.ErrUnknownCommand, Reply: "Unknown command\n"},
		{Name: "unknown verb", Line: "subscribe q", Err: wire.ErrUnknownCommand, Reply: "Unknown command\n"},
		{Name: "verbs are case-sensitive", Line: "PUBLISH x k {}", Err: wire.ErrUnknownCommand, Reply: "Unknown command\n"},
	}
}

// TextReplyCase is one reply line and the helper call that must produce it.
type TextReplyCase struct {
	Name   string
	Want   string // the exact line, "\n" included
	Append func(dst []byte) []byte
}

// TextReplyCases returns the golden table of reply lines.
func TextReplyCases() []TextReplyCase {
	id := bs(SeedEnvelopeID)
	return []TextReplyCase{
		{"queue declared", "Queue declared\n", wire.AppendReplyQueueDeclared},
		{"exchange declared", "Exchange declared\n", wire.AppendReplyExchangeDeclared},
		{"queue bound", "Queue bound\n", wire.AppendReplyQueueBound},
		{"subscribed", "Subscribed to queue\n", wire.AppendReplySubscribed},
		{"no messages", "No messages\n", wire.AppendReplyNoMessages},
		{"unknown command", "Unknown command\n", wire.AppendReplyUnknownCommand},
		{"missing queue name", "Missing queue name\n", wire.AppendReplyMissingQueueName},
		{"missing exchange name", "Missing exchange name\n", wire.AppendReplyMissingExchangeName},
		{"missing parameters", "Missing parameters\n", wire.AppendReplyMissingParameters},
		{"missing message id", "Missing message ID\n", wire.AppendReplyMissingMessageID},
		{"stats reset", "Stats reset\n", wire.AppendReplyStatsReset},
		{"ack", "ACK " + SeedEnvelopeID + "\n", func(d []byte) []byte { return wire.AppendReplyAck(d, id) }},
		{"ack empty id (reference quirk)", "ACK \n", func(d []byte) []byte { return wire.AppendReplyAck(d, nil) }},
		{"ack confirmed", "ACK_CONFIRMED " + SeedEnvelopeID + "\n", func(d []byte) []byte { return wire.AppendReplyAckConfirmed(d, id) }},
		{"message", "Message: " + SeedEnvelopeID + " " + SeedEnvelope + "\n",
			func(d []byte) []byte { return wire.AppendReplyMessage(d, id, bs(SeedEnvelope)) }},
		{"message with a newline in the json", "Message: m {\"a\": 1}\n",
			func(d []byte) []byte { return wire.AppendReplyMessage(d, bs("m"), bs("{\"a\":\n1}")) }},
		{"stats", `Stats: {"published":3}` + "\n", func(d []byte) []byte { return wire.AppendReplyStats(d, bs(`{"published":3}`)) }},
		{"error", "Error: queue full\n", func(d []byte) []byte { return wire.AppendReplyError(d, "queue full") }},
		{"error made single-line", "Error: two  lines\n", func(d []byte) []byte { return wire.AppendReplyError(d, "two\r\nlines") }},
		{"invalid message", "Invalid message format: missing field `nonce`\n",
			func(d []byte) []byte { return wire.AppendReplyInvalidMessage(d, "missing field `nonce`") }},
		{"duplicate", "Error: Duplicate message ID '" + SeedEnvelopeID + "'\n", func(d []byte) []byte { return wire.AppendReplyDuplicate(d, id) }},
		{"exchange not found", "Error: Exchange 'nope' not found\n", func(d []byte) []byte { return wire.AppendReplyExchangeNotFound(d, bs("nope")) }},
		{"no binding", "Error: No binding found for routing key 'k9'\n", func(d []byte) []byte { return wire.AppendReplyNoBinding(d, bs("k9")) }},
		{"queue not found", "Error: Queue 'q9' not found\n", func(d []byte) []byte { return wire.AppendReplyQueueNotFound(d, bs("q9")) }},
		{"batch error", "Error: queue full for message m7\n", func(d []byte) []byte { return wire.AppendReplyBatchError(d, "queue full", bs("m7")) }},
	}
}
