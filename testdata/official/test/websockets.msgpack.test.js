"use strict";
// Every scenario of lib/scenarios.js with the official client and
// @microsoft/signalr-protocol-msgpack, transport row 0 of TRANSPORTS.
const { TRANSPORTS, MESSAGEPACK } = require("../lib/harness");
const { defineTransportSuite } = require("../lib/scenarios");

defineTransportSuite(TRANSPORTS[0], MESSAGEPACK);
