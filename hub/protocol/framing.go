package protocol

import (
	"bytes"
	"fmt"
)

// RecordSeparator (ASCII 0x1E) terminates every JSON record and the handshake.
const RecordSeparator byte = 0x1E

// NextRecord splits the first RS-terminated record off data. It returns the record
// without its separator and the bytes after it. When data holds no separator it
// returns ErrIncomplete, so a caller can tell a cut record from an empty unit
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
