package chat

import (
	"encoding/base64"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/hubbub-go/hubbub/hub"
)

// DefaultMaxImageSize is Options.MaxImageSize's default: 256 KiB, room for a
// screenshot-sized PNG.
const DefaultMaxImageSize = 256 << 10

// imageEnvelope is what an invocation of SendImage carries besides the image:
// framing, method name, room and content type.
const imageEnvelope = 4 << 10

// imageTypes are the content types SendImage accepts: raster formats browsers show
// in an <img> (no SVG: it is a document, and a script could hide in it).
var imageTypes = []string{"image/png", "image/jpeg", "image/gif", "image/webp"}

// Image is an image sent to a room. Data is bin under MessagePack, base64 under JSON.
type Image struct {
	ID          int64  `json:"id"`
	Room        string `json:"room"`
	From        string `json:"from"`
	ContentType string `json:"contentType"`
	Data        []byte `json:"data"`
	At          int64  `json:"at"` // unix milliseconds
}

// withImageRoom raises the hub's per-message receive limit, if needed, so that an
// invocation carrying an image of maxImage bytes fits even as base64 (JSON).
func withImageRoom(opts hub.Options, maxImage int) hub.Options {
	need := int64(base64.StdEncoding.EncodedLen(maxImage) + imageEnvelope)
	if opts.TransportOptions.MaxReceiveSize < need {
		opts.TransportOptions.MaxReceiveSize = need
	}
	return opts
}

// sendImage sends data, an image of contentType, to the members of room.
func (c *Chat) sendImage(ctx *hub.Context, name, contentType string, data []byte) error {
	room, err := RoomName(name)
	if err != nil {
		return err
	}
	if err := c.checkImage(contentType, data); err != nil {
		return err
	}
	c.mu.Lock()
	nick := sessionOf(ctx).nick
	member := slices.Contains(c.in[ctx.ConnectionID()], room)
	c.mu.Unlock()
	if !member {
		return hub.NewError("Join #%s first.", room)
	}
	img := Image{ID: c.seq.Add(1), Room: room, From: nick, ContentType: contentType, Data: data, At: time.Now().UnixMilli()}
	return ctx.Clients().Group(roomGroup(room)).Send(ctx, "image", img)
}

// checkImage refuses an image that is empty, too large, of a type not shown, or
// whose bytes are not of the type it claims (the receivers trust the type).
func (c *Chat) checkImage(contentType string, data []byte) error {
	switch {
	case len(data) == 0:
		return hub.NewError("Empty image.")
	case len(data) > c.opts.MaxImageSize:
		return hub.NewError("Image too large: %s bytes, at most %s.", thousands(len(data)), thousands(c.opts.MaxImageSize))
	case !slices.Contains(imageTypes, contentType):
		return hub.NewError("Images must be PNG, JPEG, GIF or WebP, not %q.", contentType)
	}
	if sniffed := http.DetectContentType(data); sniffed != contentType {
		return hub.NewError("The image is not %s: its bytes are %s.", contentType, sniffed)
	}
	return nil
}

// thousands formats n with comma separators: 262144 → "262,144".
func thousands(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
