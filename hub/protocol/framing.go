package protocol

import (
	"bytes"
	"fmt"
)

// RecordSeparator (ASCII 0x1E) terminates every [JSON] record and the handshake.
const RecordSeparator byte = 0x1E

// NextRecord splits the first RS-terminated record off data. It returns the record
// without its separator and the bytes after it. When data holds no separator it
// returns [ErrIncomplete], so a caller can tell a cut record from an empty unit
// (len(data) == 0 returns ok == false and no error).
func NextRecord(data []byte) (record, rest []byte, ok bool, err error) {
	if len(data) == 0 {
		return nil, nil, false, nil
	}
	i := bytes.IndexByte(data, RecordSeparator)
	if i < 0 {
		return nil, nil, false, fmt.Errorf("protocol: %w: no record separator in the last %d bytes", ErrIncomplete, len(data))
	}
	return data[:i], data[i+1:], true, nil
}

// MaxBinaryRecordSize is the largest record the binary framing can announce: its
// varint length prefix holds at most 5 bytes and a value below 2^31.
const MaxBinaryRecordSize = 1<<31 - 1

// maxVarintLen is the longest varint length prefix.
const maxVarintLen = 5

// NextBinaryRecord splits the first length-prefixed record off data, as the
// [MessagePack] protocol frames them (BinaryMessageFormat in the official clients):
// a varint length (7 bits a byte, low group first, the high bit set on every byte
// but the last; at most 5 bytes, a value below 2^31) and that many bytes. It returns
// the record without its prefix and the bytes after it; both are slices of data.
// A prefix or record cut off by the end of data is an error wrapping [ErrIncomplete];
// a prefix longer than 5 bytes or announcing 2^31 bytes or more wraps
// [ErrInvalidMessage]. len(data) == 0 returns ok == false and no error. Nothing is
// allocated, whatever the prefix announces.
func NextBinaryRecord(data []byte) (record, rest []byte, ok bool, err error) {
	if len(data) == 0 {
		return nil, nil, false, nil
	}
	var n uint64
	for i := 0; ; i++ {
		if i == maxVarintLen {
			return nil, nil, false, fmt.Errorf("protocol: %w: length prefix longer than %d bytes", ErrInvalidMessage, maxVarintLen)
		}
		if i == len(data) {
			return nil, nil, false, fmt.Errorf("protocol: %w: unit ends inside a length prefix", ErrIncomplete)
		}
		c := data[i]
		n |= uint64(c&0x7f) << (7 * i)
		if c&0x80 == 0 {
			data = data[i+1:]
			break
		}
	}
	if n > MaxBinaryRecordSize {
		return nil, nil, false, fmt.Errorf("protocol: %w: length prefix announces %d bytes, more than %d", ErrInvalidMessage, n, MaxBinaryRecordSize)
	}
	if n > uint64(len(data)) {
		return nil, nil, false, fmt.Errorf("protocol: %w: record of %d bytes, the unit has %d left", ErrIncomplete, n, len(data))
	}
	return data[:n:n], data[n:], true, nil
}

// appendVarint appends n as a binary framing length prefix.
func appendVarint(dst []byte, n uint32) []byte {
	for n >= 0x80 {
		dst = append(dst, byte(n)|0x80)
		n >>= 7
	}
	return append(dst, byte(n))
}

// SplitRecord splits the first record off data in the framing of p: length
// prefixes for a binary protocol ([NextBinaryRecord]), record separators for a text
// one ([NextRecord]). The record excludes its framing.
func SplitRecord(p Protocol, data []byte) (record, rest []byte, ok bool, err error) {
	if p.TransferFormat() == BinaryFormat {
		return NextBinaryRecord(data)
	}
	return NextRecord(data)
}
