// Package news is the live news demo of cmd/hubbub: a feed of articles per
// company, served over REST for the recent past and over a hub for what comes next,
// with nothing missed or shown twice between the two.
//
// # Articles
//
// Each company's articles have a sequence ID that starts at 1 and grows by one per
// article, so a client can tell a gap from a duplicate. The last Options.History
// articles of each company are kept.
//
// A publisher (Run, one goroutine for the whole feed, not one per company) emits an
// article every Options.Interval per company, taking the companies in turn, until
// its context ends.
//
// # REST
//
//	GET /api/news                    the companies: [{"id":"acme","name":"Acme Corp"}, …]
//	GET /api/news/{company}?limit=N  {"company":…, "latestId":42, "articles":[newest first]}
//
// limit is 1-100, default 20. Each answer has an ETag naming the server run, the
// company, its latest ID and the limit, and Cache-Control: no-cache, so browsers
// revalidate every time and get 304 Not Modified while nothing was published. An
// unknown company is 404, a bad limit 400.
//
// # Hub (/hubs/news)
//
//	Companies() []Company
//	Subscribe(company, afterID) []Article  joins the company's group and returns the
//	                                       articles published after afterID (oldest first)
//	Unsubscribe(company)
//	event article(Article)                 a new article of a subscribed company
//
// No gap, no duplicate: a page first GETs the recent articles (latestId L), then
// invokes Subscribe(company, L). Subscribe joins the group and reads the backlog
// under the same lock the publisher holds while it numbers an article and sends it
// to the group, so every article is either in the backlog (published before the
// join) or delivered live (after), never both, never neither. A live article may
// reach the client before Subscribe's result does; clients merge by ID. After a
// reconnect, Subscribe(company, highest ID seen) fills the gap the same way.
package news

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hubbub-go/hubbub/hub"
)

// Defaults for Options.
const (
	DefaultInterval     = 5 * time.Second
	DefaultHistory      = 200
	DefaultSeed         = 12
	DefaultLimit        = 20
	MaxLimit            = 100
	DefaultAPIPrefix    = "/api/news"
	maxSubscribeBacklog = DefaultHistory
)

// Company is a company of the feed.
type Company struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// Companies are the companies a feed covers unless Options.Companies says otherwise.
var Companies = []Company{
	{"acme", "Acme Corp"},
	{"globex", "Globex"},
	{"initech", "Initech"},
	{"hooli", "Hooli"},
	{"umbrella", "Umbrella"},
}

// Article is one news item.
type Article struct {
	Company     string `json:"company"`
	ID          int64  `json:"id"` // 1, 2, 3… per company
	Title       string `json:"title"`
	Summary     string `json:"summary"`
	PublishedAt int64  `json:"publishedAt"` // unix milliseconds
}

// Options configure the feed. The zero value of every field means its default.
type Options struct {
	// Hub are the options of the news hub. Name defaults to "news".
	Hub hub.Options
	// Companies covered. Default: Companies.
	Companies []Company
	// Interval between two articles of one company. Default 5 s.
	Interval time.Duration
	// History is how many articles are kept per company. Default 200.
	History int
	// Seed is how many articles each company has at start. Default 12; negative
	// means none.
	Seed int
}

// News is the feed, its hub and its REST API.
type News struct {
	hub   *hub.Hub
	opts  Options
	epoch string // names this server run in ETags

	// mu orders publishing: an article is numbered, stored and sent to its group
	// under mu, and Subscribe joins a group and reads the backlog under mu.
	mu    sync.Mutex
	feeds map[string]*feed
	rnd   *rand.Rand
}

type feed struct {
	company  Company
	articles []Article // oldest first, at most History
	latest   int64
}

// New returns the feed with its seed articles. Serve Hub() at /hubs/news and API()
// at /api/news, and call Run to publish.
func New(opts Options) *News {
	if opts.Hub.Name == "" {
		opts.Hub.Name = "news"
	}
	if len(opts.Companies) == 0 {
		opts.Companies = Companies
	}
	if opts.Interval <= 0 {
		opts.Interval = DefaultInterval
	}
	if opts.History <= 0 {
		opts.History = DefaultHistory
	}
	if opts.Seed == 0 {
		opts.Seed = DefaultSeed
	}
	now := time.Now()
	n := &News{
		hub:   hub.New(opts.Hub),
		opts:  opts,
		epoch: strconv.FormatInt(now.UnixNano(), 36),
		feeds: map[string]*feed{},
		rnd:   rand.New(rand.NewPCG(uint64(now.UnixNano()), 0x6e657773)),
	}
	for _, c := range opts.Companies {
		f := &feed{company: c}
		n.feeds[c.ID] = f
		for i := opts.Seed; i > 0; i-- {
			n.appendLocked(f, now.Add(-time.Duration(i)*opts.Interval*7))
		}
	}
	h := n.hub
	h.On("Companies", func() []Company { return n.opts.Companies })
	h.On("Subscribe", n.subscribe)
	h.On("Unsubscribe", n.unsubscribe)
	h.ClientMethod("article", Article{}) // for hub.Describe and the typed clients made from it
	return n
}

// Hub is the news hub.
func (n *News) Hub() *hub.Hub { return n.hub }

func companyGroup(id string) string { return "company:" + id }

func (n *News) subscribe(ctx *hub.Context, company string, afterID int64) ([]Article, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	f := n.feeds[company]
	if f == nil {
		return nil, hub.NewError("There is no company %q.", company)
	}
	if err := ctx.Groups().Add(ctx, ctx.ConnectionID(), companyGroup(company)); err != nil {
		return nil, err
	}
	return f.after(afterID, maxSubscribeBacklog), nil
}

func (n *News) unsubscribe(ctx *hub.Context, company string) error {
	if _, ok := n.feeds[company]; !ok { // feeds is fixed after New: no lock needed
		return hub.NewError("There is no company %q.", company)
	}
	return ctx.Groups().Remove(ctx, ctx.ConnectionID(), companyGroup(company))
}

// after returns, oldest first, up to max articles with an ID above id.
func (f *feed) after(id int64, max int) []Article {
	out := []Article{}
	for _, a := range f.articles {
		if a.ID > id {
			out = append(out, a)
		}
	}
	if len(out) > max {
		out = out[len(out)-max:]
	}
	return out
}

// Recent returns up to limit of a company's latest articles, newest first, and the
// latest ID; ok is false for an unknown company.
func (n *News) Recent(company string, limit int) (articles []Article, latest int64, ok bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	f := n.feeds[company]
	if f == nil {
		return nil, 0, false
	}
	from := max(0, len(f.articles)-limit)
	out := make([]Article, 0, len(f.articles)-from)
	for i := len(f.articles) - 1; i >= from; i-- {
		out = append(out, f.articles[i])
	}
	return out, f.latest, true
}

// Publish makes one article for company now and sends it to its subscribers.
func (n *News) Publish(ctx context.Context, company string) (Article, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	f := n.feeds[company]
	if f == nil {
		return Article{}, fmt.Errorf("news: publish: unknown company %q", company)
	}
	a := n.appendLocked(f, time.Now())
	if err := n.hub.Clients().Group(companyGroup(company)).Send(ctx, "article", a); err != nil {
		return a, fmt.Errorf("news: publish: %w", err)
	}
	return a, nil
}

// Run publishes until ctx ends: every Interval each company gets one article, the
// companies taking turns at even spacing. It returns when ctx is done.
func (n *News) Run(ctx context.Context) {
	companies := n.opts.Companies
	tick := time.NewTicker(max(n.opts.Interval/time.Duration(len(companies)), time.Millisecond))
	defer tick.Stop()
	for i := 0; ; i = (i + 1) % len(companies) {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		// The article is stored: subscribers that reconnect get it in their backlog.
		// A backplane outage is logged by the hub, once.
		if _, err := n.Publish(ctx, companies[i].ID); err != nil && ctx.Err() == nil && n.opts.Hub.Logger != nil &&
			!errors.Is(err, hub.ErrClusterDelivery) {
			n.opts.Hub.Logger.Warn("news: publish", "err", err)
		}
	}
}

func (n *News) appendLocked(f *feed, at time.Time) Article {
	f.latest++
	a := n.writeLocked(f.company, f.latest, at)
	f.articles = append(f.articles, a)
	if over := len(f.articles) - n.opts.History; over > 0 {
		f.articles = append(f.articles[:0], f.articles[over:]...)
	}
	return a
}

var (
	subjects = []string{"a new product line", "its cloud division", "a partnership with a rival",
		"a new headquarters", "a hiring push", "an AI assistant", "supply chain changes", "a share buyback",
		"its developer conference", "a security audit", "a move into Europe", "a redesign of its app"}
	verbs = []string{"announces", "unveils", "rethinks", "doubles down on", "delays", "reports progress on", "invests in", "confirms"}
	moods = []string{"Analysts are cautiously optimistic.", "Shares moved %+.1f%% on the news.",
		"The company declined to comment further.", "Customers have been asking for this for years.",
		"Competitors are expected to respond within weeks.", "Details will follow at the next earnings call."}
)

// writeLocked invents an article (n.rnd needs n.mu).
func (n *News) writeLocked(c Company, id int64, at time.Time) Article {
	pick := func(list []string) string { return list[n.rnd.IntN(len(list))] }
	title := fmt.Sprintf("%s %s %s", c.Name, pick(verbs), pick(subjects))
	summary := pick(moods)
	if strings.Contains(summary, "%") {
		summary = fmt.Sprintf(summary, n.rnd.Float64()*8-4)
	}
	return Article{Company: c.ID, ID: id, Title: title, Summary: summary, PublishedAt: at.UnixMilli()}
}

// API is the REST API: GET /api/news and GET /api/news/{company}.
func (n *News) API() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+DefaultAPIPrefix, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		writeJSON(w, http.StatusOK, n.opts.Companies)
	})
	mux.HandleFunc("GET "+DefaultAPIPrefix+"/{company}", n.serveRecent)
	return mux
}

// Recent is the body of GET /api/news/{company}.
type Recent struct {
	Company  Company   `json:"company"`
	LatestID int64     `json:"latestId"`
	Articles []Article `json:"articles"` // newest first
}

func (n *News) serveRecent(w http.ResponseWriter, r *http.Request) {
	company := r.PathValue("company")
	limit := DefaultLimit
	if s := r.URL.Query().Get("limit"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1 || v > MaxLimit {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": fmt.Sprintf("limit must be 1-%d", MaxLimit)})
			return
		}
		limit = v
	}
	articles, latest, ok := n.Recent(company, limit)
	if !ok {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no such company"})
		return
	}
	etag := fmt.Sprintf(`"%s-%s-%d-%d"`, n.epoch, company, latest, limit)
	h := w.Header()
	h.Set("ETag", etag)
	h.Set("Cache-Control", "no-cache")
	if matchesETag(r.Header.Get("If-None-Match"), etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	writeJSON(w, http.StatusOK, Recent{Company: n.feeds[company].company, LatestID: latest, Articles: articles})
}

// matchesETag reports whether an If-None-Match header names etag (weak comparison,
// as RFC 9110 asks for If-None-Match).
func matchesETag(header, etag string) bool {
	for _, tag := range strings.Split(header, ",") {
		tag = strings.TrimPrefix(strings.TrimSpace(tag), "W/")
		if tag == "*" || tag == etag {
			return true
		}
	}
	return false
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
