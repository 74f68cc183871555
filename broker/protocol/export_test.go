package protocol

// ScannedBytes reports how many input bytes t has searched for a newline.
func (t *Text) ScannedBytes() uint64 { return t.scanned }
