package redis_test

import "github.com/hubbub-go/hubbub/internal/clustertest/suite"

// The shared cluster suite's client and helpers, under the names these tests use.
type (
	testClient     = suite.Client
	statefulClient = suite.StatefulClient
	statefulLink   = suite.StatefulLink
	wireRecord     = suite.WireRecord
)

const waitTimeout = suite.WaitTimeout

var (
	dial         = suite.Dial
	dialSplit    = suite.DialSplit
	tryDial      = suite.TryDial
	tryDialSplit = suite.TryDialSplit
	waitFor      = suite.WaitFor

	dialStateful       = suite.DialStateful
	openStatefulLink   = suite.OpenStatefulLink
	openStatefulLinkAt = suite.OpenStatefulLinkAt
	hubURL             = suite.HubURL
)
