package broker

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// codecVersion leads every encoded Message so that nodes running different releases can
// tell an encoding they do not know from a corrupt one.
const codecVersion = 1

// MaxIDLen bounds a message's ID and PrevID in the encoding, for the same reason as
// MaxChannelLen.
const MaxIDLen = 1024

var errShortMessage = errors.New("broker: truncated message")

// MarshalBinary encodes m compactly for the wire:
//
//	version(1) format(1) uvarint(len)channel uvarint(len)id uvarint(len)prev-id payload...
//
// The payload takes the rest, so it costs no length prefix. It is a binary encoding rather
// than JSON because payloads are arbitrary bytes that JSON would have to base64.
func (m Message) MarshalBinary() ([]byte, error) {
	if err := ValidateChannel(m.Channel); err != nil {
		return nil, err
	}
	if len(m.ID) > MaxIDLen || len(m.PrevID) > MaxIDLen {
		return nil, fmt.Errorf("broker: id or prev-id longer than %d bytes", MaxIDLen)
	}
	n := 2 + 3*binary.MaxVarintLen64 + len(m.Channel) + len(m.ID) + len(m.PrevID) + len(m.Payload)
	b := make([]byte, 0, n)
	b = append(b, codecVersion, byte(m.Format))
	b = appendString(b, m.Channel)
	b = appendString(b, m.ID)
	b = appendString(b, m.PrevID)
	b = append(b, m.Payload...)
	return b, nil
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// UnmarshalBinary decodes what MarshalBinary encoded. Input comes from the network, so it
// checks every length before using it. The payload is copied: data may be a transport buffer
// that is reused after this returns.
func (m *Message) UnmarshalBinary(data []byte) error {
	if len(data) < 2 {
		return errShortMessage
	}
	if data[0] != codecVersion {
		return fmt.Errorf("broker: unknown message encoding version %d", data[0])
	}
	var out Message
	out.Format = Format(data[1])
	rest := data[2:]
	var err error
	if out.Channel, rest, err = readString(rest, MaxChannelLen); err != nil {
		return fmt.Errorf("decoding channel: %w", err)
	}
	if err := ValidateChannel(out.Channel); err != nil {
		return err
	}
	if out.ID, rest, err = readString(rest, MaxIDLen); err != nil {
		return fmt.Errorf("decoding id: %w", err)
	}
	if out.PrevID, rest, err = readString(rest, MaxIDLen); err != nil {
		return fmt.Errorf("decoding prev-id: %w", err)
	}
	if len(rest) > 0 {
		out.Payload = append([]byte(nil), rest...)
	}
	*m = out
	return nil
}

func readString(b []byte, limit int) (string, []byte, error) {
	n, k := binary.Uvarint(b)
	if k <= 0 {
		return "", nil, errShortMessage
	}
	b = b[k:]
	if n > uint64(limit) {
		return "", nil, fmt.Errorf("broker: field of %d bytes exceeds %d", n, limit)
	}
	if n > uint64(len(b)) {
		return "", nil, errShortMessage
	}
	return string(b[:n]), b[n:], nil
}
