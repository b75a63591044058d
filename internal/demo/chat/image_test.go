package chat_test

import (
	"bytes"
	"slices"
	"sync"
	"testing"

	"github.com/hubbub-go/hubbub/client"
	"github.com/hubbub-go/hubbub/hub/protocol"
	"github.com/hubbub-go/hubbub/internal/demo/chat"
)

// pngOf is size bytes that sniff as a PNG (the signature, then filler).
func pngOf(size int) []byte {
	b := bytes.Repeat([]byte{0x42}, size)
	copy(b, "\x89PNG\r\n\x1a\n")
	return b
}

// images records the image events of a connection.
type images struct {
	mu  sync.Mutex
	got []chat.Image
}

func recordImages(t *testing.T, conn *client.Conn) *images {
	im := &images{}
	conn.On("image", func(args []protocol.RawValue) {
		im.mu.Lock()
		defer im.mu.Unlock()
		if err := decode(args[0], &im.got); err != nil {
			t.Errorf("image: %v", err)
		}
	})
	return im
}

func (im *images) snapshot() []chat.Image {
	im.mu.Lock()
	defer im.mu.Unlock()
	return slices.Clone(im.got)
}

// TestSendImage: an image sent to a room reaches its members as the same bytes, up to
// MaxImageSize (default 256 KiB, far above the hub's default 32 KiB per message, even
// in base64); too large, untyped, mistyped or roomless images are refused with a reason.
func TestSendImage(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			s := start(t, k.kind, chat.Options{})
			alice, w := s.login(t, "alice")
			if w.MaxImageSize != chat.DefaultMaxImageSize {
				t.Errorf("Welcome.MaxImageSize = %d, want %d", w.MaxImageSize, chat.DefaultMaxImageSize)
			}
			bob, _ := s.login(t, "bob")
			carol, _ := s.login(t, "carol")
			bobImages, carolImages := recordImages(t, bob.conn), recordImages(t, carol.conn)
			if err := bob.invoke("Join", "pics"); err != nil {
				t.Fatal(err)
			}
			if err := alice.invoke("Join", "pics"); err != nil {
				t.Fatal(err)
			}

			small, largest := pngOf(100), pngOf(chat.DefaultMaxImageSize)
			for _, img := range [][]byte{small, largest} {
				if err := alice.invoke("SendImage", "pics", "image/png", img); err != nil {
					t.Fatalf("SendImage(%d bytes): %v", len(img), err)
				}
			}
			eventually(t, "bob gets both images", func() bool { return len(bobImages.snapshot()) == 2 })
			for i, want := range [][]byte{small, largest} {
				got := bobImages.snapshot()[i]
				if got.From != "alice" || got.Room != "pics" || got.ContentType != "image/png" || !bytes.Equal(got.Data, want) {
					t.Errorf("image %d: from %q room %q type %q, %d bytes (equal: %v); want alice, pics, image/png, %d bytes",
						i, got.From, got.Room, got.ContentType, len(got.Data), bytes.Equal(got.Data, want), len(want))
				}
			}

			for _, tc := range []struct {
				name, room, contentType string
				data                    []byte
				want                    string
			}{
				{"too large", "pics", "image/png", pngOf(chat.DefaultMaxImageSize + 1), "Image too large: 262,145 bytes, at most 262,144."},
				{"empty", "pics", "image/png", nil, "Empty image."},
				{"not an image type", "pics", "text/html", []byte("<b>hi</b>"), `Images must be PNG, JPEG, GIF or WebP, not "text/html".`},
				{"svg", "pics", "image/svg+xml", []byte("<svg/>"), `Images must be PNG, JPEG, GIF or WebP, not "image/svg+xml".`},
				{"bytes of another type", "pics", "image/jpeg", small, "The image is not image/jpeg: its bytes are image/png."},
				{"room not joined", "ops", "image/png", small, "Join #ops first."},
			} {
				if got := serverError(t, alice.invoke("SendImage", tc.room, tc.contentType, tc.data)); got != tc.want {
					t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
				}
			}
			// Carol is not in #pics: after a marker in #general, she has seen no image.
			if err := bob.invoke("Send", "general", "marker"); err != nil {
				t.Fatal(err)
			}
			eventually(t, "carol gets the marker", func() bool { return carol.hasMessage("marker") })
			if n := len(carolImages.snapshot()); n != 0 {
				t.Errorf("carol, not in #pics, got %d images", n)
			}
			if n := len(bobImages.snapshot()); n != 2 {
				t.Errorf("bob got %d images, want the 2 accepted ones", n)
			}
		})
	}
}

// TestSendImageLimitIsAnOption: MaxImageSize is configurable, and the hub's receive
// limit is left alone when it already carries such an image.
func TestSendImageLimitIsAnOption(t *testing.T) {
	s := start(t, kinds[0].kind, chat.Options{MaxImageSize: 1000})
	alice, w := s.login(t, "alice")
	if w.MaxImageSize != 1000 {
		t.Errorf("Welcome.MaxImageSize = %d, want 1000", w.MaxImageSize)
	}
	if err := alice.invoke("SendImage", "general", "image/png", pngOf(1000)); err != nil {
		t.Errorf("SendImage(1000 bytes): %v", err)
	}
	if got, want := serverError(t, alice.invoke("SendImage", "general", "image/png", pngOf(1001))), "Image too large: 1,001 bytes, at most 1,000."; got != want {
		t.Errorf("SendImage(1001 bytes): %q, want %q", got, want)
	}
}
