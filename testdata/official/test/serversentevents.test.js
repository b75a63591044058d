"use strict";
// Every scenario of lib/scenarios.js with the official client, transport row 1 of TRANSPORTS.
const { TRANSPORTS } = require("../lib/harness");
const { defineTransportSuite } = require("../lib/scenarios");

defineTransportSuite(TRANSPORTS[1]);
