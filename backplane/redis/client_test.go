package redis_test

import "github.com/hubbub-go/hubbub/internal/clustertest/suite"

// The shared cluster suite's clients and helpers, under the names these tests use.
type (
	testClient     = suite.Client
	statefulClient = suite.StatefulClient
)

const waitTimeout = suite.WaitTimeout

var (
	dial               = suite.Dial
	tryDialSplit       = suite.TryDialSplit
	waitFor            = suite.WaitFor
	dialStateful       = suite.DialStateful
	openStatefulLinkAt = suite.OpenStatefulLinkAt
)
