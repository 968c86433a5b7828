import DeferWatchCore
import DeferWatchTestSupport
import Foundation
import Testing

/// The configuration fixes of alerts: the values from what got through, the causes that
/// have one, names and domains from hostile input, arithmetic that never traps. (That the
/// real postconf and exim accept the text: DeferWatchDaemonTests/ConfigFixMTATests.)
@Suite struct ConfigFixTests {
    typealias Observed = ConfigFix.Observed
    static let rules = RuleSet.builtin()
    static let hints = HintBook.builtin(providers: rules.providers)
    static let t0: Int64 = 1_795_824_000 * 1_000_000 // 2026-11-28T00:00:00Z

    // MARK: - The formulas

    /// Gmail deferred 30 and let 40 through in the 15 minutes of the window: 2.6 a minute.
    /// Postfix: ceil(900 / 40) = 23 s between deliveries, floor(40 * 23 / 900) = 1
    /// recipient each, one at a time. Exim: 2 messages a connection (2 a minute), retries
    /// after ceil(30 * 900 / 40 / 60) = 12 minutes, raised to the least, 15.
    @Test func valuesComeFromTheRateThatGotThrough() throws {
        let o = Observed(deliveries: 40, deferrals: 30, seconds: 900)
        #expect(o.perMinute == 2)
        let p = try #require(ConfigFix.values(for: .rateLimit, mta: .postfix, observed: o))
        #expect(p == ConfigFix.Values(concurrency: 1, rateDelaySeconds: 23, recipientLimit: 1))
        let e = try #require(ConfigFix.values(for: .rateLimit, mta: .exim, observed: o))
        #expect(e == ConfigFix.Values(concurrency: 1, recipientLimit: 1, messagesPerConnection: 2, retryMinutes: 15))

        // 400 a minute got through: the delay's least, 1 s, with 6 recipients each (6 a
        // second is 360 a minute, below 400); Exim: the most messages a connection, 100.
        let fast = Observed(deliveries: 6000, deferrals: 30, seconds: 900)
        #expect(ConfigFix.values(for: .rateLimit, mta: .postfix, observed: fast) == ConfigFix.Values(concurrency: 1, rateDelaySeconds: 1, recipientLimit: 6))
        #expect(ConfigFix.values(for: .rateLimit, mta: .exim, observed: fast)?.messagesPerConnection == 100)

        // Nothing got through: the slowest values, 300 s apart, retry after an hour.
        let none = Observed(deliveries: 0, deferrals: 500, seconds: 900)
        #expect(ConfigFix.values(for: .rateLimit, mta: .postfix, observed: none) == ConfigFix.Values(concurrency: 1, rateDelaySeconds: 300, recipientLimit: 1))
        #expect(ConfigFix.values(for: .rateLimit, mta: .exim, observed: none) == ConfigFix.Values(concurrency: 1, recipientLimit: 1, messagesPerConnection: 1, retryMinutes: 60))

        // 90 got through in an hour with 120 deferred: 40 s apart; Exim drains the 120 in
        // 120 * 3600 / 90 / 60 = 80 minutes: the most, 60.
        let slow = Observed(deliveries: 90, deferrals: 120, seconds: 3600)
        #expect(ConfigFix.values(for: .rateLimit, mta: .postfix, observed: slow)?.rateDelaySeconds == 40)
        #expect(ConfigFix.values(for: .rateLimit, mta: .exim, observed: slow)?.retryMinutes == 60)
        // 45 deferred drain in 30 minutes.
        #expect(ConfigFix.values(for: .rateLimit, mta: .exim, observed: Observed(deliveries: 90, deferrals: 45, seconds: 3600))?.retryMinutes == 30)

        // A span under a minute counts as a minute.
        #expect(Observed(deliveries: 10, deferrals: 1, seconds: 3).seconds == 60)
    }

    /// Whatever the counts, the rate the Postfix values allow is at most the rate that got
    /// through (unless that was under one every 300 s, the slowest), and every value is
    /// within its bounds.
    @Test func thePostfixRateNeverExceedsWhatGotThrough() throws {
        var rng = SeededRandom.fromEnvironment()
        for _ in 0..<20_000 {
            let d = Int.random(in: 0...200_000, using: &rng)
            let s = Int64.random(in: 1...200_000, using: &rng)
            let o = Observed(deliveries: d, deferrals: Int.random(in: 0...100_000, using: &rng), seconds: s)
            let v = try #require(ConfigFix.values(for: .rateLimit, mta: .postfix, observed: o))
            let delay = try #require(v.rateDelaySeconds)
            let k = try #require(v.recipientLimit)
            #expect(ConfigFix.rateDelayRange.contains(delay) && ConfigFix.recipientRange.contains(k))
            // k recipients every `delay` seconds, against d in o.seconds.
            if d > 0 && d * 300 >= Int(o.seconds) {
                #expect(k * Int(o.seconds) <= d * delay, "seed \(rng.seed): d=\(d) s=\(o.seconds) -> \(delay)s x \(k)")
            }
            let e = try #require(ConfigFix.values(for: .rateLimit, mta: .exim, observed: o))
            #expect(ConfigFix.retryRange.contains(e.retryMinutes ?? 0) && ConfigFix.messagesRange.contains(e.messagesPerConnection ?? 0))
        }
    }

    /// The largest counts and spans, negative ones and an alert whose times are at the ends
    /// of Int64 (a damaged checkpoint, a clock gone mad) give values in bounds, not a trap.
    @Test func hugeAndNegativeNumbersDoNotTrap() throws {
        for o in [Observed(deliveries: .max, deferrals: .max, seconds: .max), Observed(deliveries: .min, deferrals: .min, seconds: .min),
                  Observed(deliveries: .max, deferrals: 0, seconds: 60), Observed(deliveries: 1, deferrals: .max, seconds: .max),
                  Observed(deliveries: .max, deferrals: .max, seconds: 61, concurrency: .max)] {
            for cause in [Cause.rateLimit, .connectionLimit] {
                for mta in MTA.allCases {
                    let v = try #require(ConfigFix.values(for: cause, mta: mta, observed: o))
                    for n in [v.concurrency, v.rateDelaySeconds, v.recipientLimit, v.messagesPerConnection, v.retryMinutes] {
                        if let n { #expect(n >= 1 && n <= 300) }
                    }
                }
            }
            _ = o.perMinute
        }
        for (opened, now, attempts, deferrals) in [(Int64.min, Int64.max, Int.min, Int.max), (Int64.max, Int64.min, Int.max, Int.min),
                                                   (0, Int64.max, Int.max, 0)] {
            let a = try FixtureAlert.make(cause: .rateLimit, scope: .provider, name: "google", provider: "google",
                                          openedAt: opened, attempts: attempts, deferrals: deferrals)
            let o = Observed(alert: a, window: .max, now: now)
            #expect(o.seconds >= 60 && o.deliveries >= 0 && o.deferrals >= 0)
            let fix = try #require(Self.hints.fix(for: a, window: .max, now: now))
            #expect(!fix.snippet.isEmpty)
        }
    }

    // MARK: - Which causes

    /// A configuration change fixes rate and connection limits, and a receiver that wants
    /// fewer recipients; DNS, reputation, content, greylisting and the rest get none.
    @Test func onlyCausesAConfigurationChangeFixesHaveOne() {
        let o = Observed(deliveries: 10, deferrals: 10, seconds: 900)
        for cause in Cause.allCases {
            let v = ConfigFix.values(for: cause, mta: .postfix, observed: o)
            #expect((v != nil) == [.rateLimit, .connectionLimit].contains(cause), "\(cause)")
        }
        // mailbox: a full one is no configuration matter; too many recipients is.
        #expect(ConfigFix.values(for: .mailbox, sample: "452 4.2.2 The email account that you tried to reach is over quota", mta: .postfix, observed: o) == nil)
        #expect(ConfigFix.values(for: .mailbox, sample: "452 4.5.3 Too many recipients", mta: .postfix, observed: o) == ConfigFix.Values(recipientLimit: 20))
        #expect(ConfigFix.values(for: .mailbox, sample: "452 Too Many Recipients in this message", mta: .exim, observed: o) == ConfigFix.Values(recipientLimit: 20))
        // connection_limit: half the connections that were refused, else 2.
        #expect(ConfigFix.values(for: .connectionLimit, mta: .postfix, observed: o) == ConfigFix.Values(concurrency: 2, messagesPerConnection: 10))
        #expect(ConfigFix.values(for: .connectionLimit, mta: .exim, observed: Observed(deliveries: 1, deferrals: 1, seconds: 60, concurrency: 8))?.concurrency == 4)
        #expect(ConfigFix.values(for: .connectionLimit, mta: .exim, observed: Observed(deliveries: 1, deferrals: 1, seconds: 60, concurrency: 1))?.concurrency == 1)
    }

    // MARK: - Names from hostile input

    @Test func transportNamesAreSafe() {
        #expect(ConfigFix.transportName("google") == "slow_google")
        #expect(ConfigFix.transportName("united-internet") == "slow_united_internet")
        #expect(ConfigFix.transportName("Mail.Example.CO.uk") == "slow_mail_example_co_uk")
        #expect(ConfigFix.transportName("") == "slow_destination")
        #expect(ConfigFix.transportName("\n\t ;:") == "slow_destination")
        let hostile = ConfigFix.transportName("evil.example\nsmtp unix - - n - - pipe flags=R user=root argv=/bin/sh -c id")
        #expect(hostile.utf8.allSatisfy { ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == 95 }, "\(hostile)")
        let long = ConfigFix.transportName(String(repeating: "a", count: 300) + ".example")
        let long2 = ConfigFix.transportName(String(repeating: "a", count: 300) + ".example2")
        #expect(long.utf8.count <= 40 && long != long2, "\(long) \(long2)")
        #expect(ConfigFix.transportName(String(repeating: "é", count: 100_000)).utf8.count <= 40)
    }

    @Test func onlyValidDomainsReachTheText() {
        #expect(ConfigFix.validDomain("Mail.Example.CO.uk") == "mail.example.co.uk")
        #expect(ConfigFix.validDomain("xn--bcher-kva.de") == "xn--bcher-kva.de")
        #expect(ConfigFix.validDomain("a-b.example") == "a-b.example")
        for bad in ["", "com", "exa mple.com", "a:b.com", "-a.com", "a-.com", "a..b.com", ".a.com", "a.com.", "1.2.3.4",
                    "[192.0.2.1]", "bücher.de", "a.com\nslow unix", "a.com\u{0}", "a,b.com", "*.example.com", "a.com:",
                    String(repeating: "a", count: 64) + ".com", String(repeating: "a.", count: 127) + "com"] {
            #expect(ConfigFix.validDomain(bad) == nil, "\(bad)")
        }
    }

    // MARK: - Alerts raised from events

    /// Gmail rate-limits gmail.com: the domain's alert gets a fix for the domain; then
    /// googlemail.com and a Workspace domain too: the provider's alert gets a fix for the
    /// provider's domains (a Workspace domain is not among them), under the MTA of the log,
    /// with the observation in its summary.
    @Test func anAlertRaisedFromEventsCarriesItsFix() throws {
        for mta in MTA.allCases {
            var tracker = DeferralTracker(hints: Self.hints)
            var out: [AlertTransition] = []
            let relay = "gmail-smtp-in.l.google.com"
            for i in 0..<30 { out += tracker.record(Self.event(i * 10, domain: "gmail.com", relay: relay, sent: false, mta: mta)) }
            let domain = try #require(out.first { $0.state == .open && $0.alert.key.scope == .domain })
            let domainFix = try #require(domain.fix, "the opening line carries the fix too")
            #expect(domainFix.transport == "slow_gmail_com" && domainFix.domains == ["gmail.com"])
            #expect(domainFix.summary.hasPrefix("\(mta == .postfix ? "Postfix" : "Exim") sends to gmail.com through its own transport slow_gmail_com: "), "\(domainFix.summary)")
            for i in 0..<30 {
                out += tracker.record(Self.event(300 + i * 10, domain: "googlemail.com", relay: relay, sent: false, mta: mta))
                out += tracker.record(Self.event(301 + i * 10, domain: "corp.example", relay: "aspmx.l.google.com", sent: false, mta: mta))
                out += tracker.record(Self.event(302 + i * 10, domain: "gmail.com", relay: relay, sent: false, mta: mta))
            }
            for i in 0..<40 { out += tracker.record(Self.event(600 + i, domain: "gmail.com", relay: relay, sent: true, mta: mta)) }
            let open = try #require(out.first { $0.state == .open && $0.alert.key.scope == .provider })
            #expect(open.fix?.transport == "slow_google")
            let now = try #require(tracker.openAlertStates.first { $0.alert.id == open.alert.id })
            let fix = try #require(now.fix)
            #expect(fix.mta == mta && fix.cause == .rateLimit)
            #expect(fix.domains == ["gmail.com", "googlemail.com"])
            #expect(fix.observed.deliveries == 40 && fix.observed.deferrals == now.alert.deferrals)
            #expect(fix.summary.contains("sends to google (2 domains) through its own transport slow_google: "), "\(fix.summary)")
            #expect(fix.summary.contains("40 deliveries got through"), "\(fix.summary)")
            switch mta {
            case .postfix:
                #expect(fix.files.map(\.path) == ["/etc/postfix/transport", "/etc/postfix/master.cf", "/etc/postfix/main.cf"])
                #expect(fix.files[0].text == "gmail.com       slow_google:\ngooglemail.com  slow_google:\n")
                #expect(fix.files[1].text == "slow_google unix  -       -       n       -       -       smtp\n")
                #expect(fix.files[2].text.contains("slow_google_destination_rate_delay = \(fix.values.rateDelaySeconds!)s\n"))
                #expect(fix.snippet.contains("#   postmap /etc/postfix/transport\n"))
            case .exim:
                #expect(fix.files.count == 3)
                #expect(fix.files[0].text.contains("  domains = gmail.com : googlemail.com\n"))
                #expect(fix.files[1].text.contains("  max_parallel = 1\n"))
                #expect(fix.files[2].text.hasPrefix("gmail.com       *  F,2h,"))
            }
            let s = StatusReport.AlertStatus(now)
            #expect(s.fix == fix)
            #expect(StatusReport.alertsText([s], detailed: true).contains("config fix (deferwatch suggest \(s.id)): "))
            // The JSON of /v1/alerts: snake_case keys, decoded back the same.
            let enc = JSONEncoder()
            enc.keyEncodingStrategy = .convertToSnakeCase
            let data = try enc.encode(s)
            let doc = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
            let f = try #require(doc["fix"] as? [String: Any])
            #expect(f["transport"] as? String == "slow_google")
            #expect((f["values"] as? [String: Any])?["recipient_limit"] as? Int == fix.values.recipientLimit)
            #expect((f["files"] as? [[String: Any]])?.first?["path"] as? String == fix.files[0].path)
            let dec = JSONDecoder()
            dec.keyDecodingStrategy = .convertFromSnakeCase
            #expect(try dec.decode(StatusReport.AlertStatus.self, from: data).fix == fix)
        }
    }

    /// A domain alert whose domain is not a valid one (a hostile log line) gets no fix;
    /// a valid one in capitals gets one for the domain in lower case.
    @Test func aHostileDomainGetsNoFix() throws {
        for (domain, expected) in [("evil.example\nslow_x unix - - n - - pipe", nil), ("a:b@example.org", nil),
                                   ("Mixed.Example.ORG", "mixed.example.org")] {
            var tracker = DeferralTracker(hints: Self.hints)
            for i in 0..<40 {
                _ = tracker.record(Self.event(i, domain: domain, relay: "mx.example.org", sent: false, mta: .postfix,
                                              text: "421 4.7.0 Too many concurrent SMTP connections from this IP address"))
            }
            let states = tracker.openAlertStates.filter { $0.alert.key.scope == .domain }
            try #require(!states.isEmpty, "\(tracker.openAlerts)")
            for t in states {
                #expect(t.fix?.domains.first == expected, "\(domain)")
                if let f = t.fix {
                    #expect(f.transport == "slow_mixed_example_org")
                    #expect(f.files[1].text.contains("-o smtp_connection_reuse_count_limit=10\n"))
                    #expect(!f.snippet.contains("\n\n\n"))
                }
            }
        }
    }

    /// The whole text for one alert per MTA: Gmail-like throttling of example.org, 40
    /// through and 30 deferred in the 15 minutes before the alert opened and the minute
    /// since (16 min: 2.5 a minute).
    @Test func theSnippetsReadAsExpected() throws {
        let opened: Int64 = 1_795_824_000_000_000
        for mta in MTA.allCases {
            let a = try FixtureAlert.make(cause: .rateLimit, mta: mta, scope: .domain, name: "example.org", domain: "example.org",
                                          openedAt: opened, attempts: 70, deferrals: 30)
            let fix = try #require(Self.hints.fix(for: a, window: 15 * 60_000_000, now: opened + 60_000_000))
            #expect(fix.snippet == (mta == .postfix ? Self.postfixSnippet : Self.eximSnippet), "\(fix.snippet)")
        }
    }

    static let postfixSnippet = """
        # deferwatch alert #7: rate_limit (postfix)
        # Postfix sends to example.org through its own transport slow_example_org: one delivery at
        # a time, 24 s apart, 1 recipient each; 40 deliveries got through in 16 min (2.5 a minute)
        # while 30 were deferred.

        # /etc/postfix/transport: the recipient domains to send through slow_example_org (a table
        # of your own in transport_maps: put them there)
        example.org  slow_example_org:

        # /etc/postfix/master.cf: a copy of the smtp client line (add the -o options your smtp
        # line has)
        slow_example_org unix  -       -       n       -       -       smtp

        # /etc/postfix/main.cf: the limits (transport_maps set already: keep it, with
        # hash:/etc/postfix/transport in its list)
        transport_maps = hash:/etc/postfix/transport
        slow_example_org_destination_concurrency_limit = 1
        slow_example_org_initial_destination_concurrency = 1
        slow_example_org_destination_rate_delay = 24s
        slow_example_org_destination_concurrency_failed_cohort_limit = 10
        slow_example_org_destination_recipient_limit = 1

        # then run:
        #   postmap /etc/postfix/transport
        #   postfix check
        #   postfix reload

        """

    static let eximSnippet = """
        # deferwatch alert #7: rate_limit (exim)
        # Exim sends to example.org through its own transport slow_example_org: one connection at
        # a time, 2 messages on it, 1 recipient each, retries after 15 minutes; 40 deliveries got
        # through in 16 min (2.5 a minute) while 30 were deferred.

        # /etc/exim4/conf.d/router/190_deferwatch_slow_example_org: a router before dnslookup (a
        # single exim4.conf: in begin routers, before dnslookup)
        slow_example_org:
          debug_print = "R: slow_example_org for $local_part@$domain"
          driver = dnslookup
          domains = example.org
          transport = slow_example_org
          ignore_target_hosts = 0.0.0.0 : 127.0.0.0/8
          same_domain_copy_routing = yes
          no_more

        # /etc/exim4/conf.d/transport/30_deferwatch_slow_example_org: its smtp transport (a single
        # exim4.conf: in begin transports; add the options your remote_smtp has, DKIM and TLS)
        slow_example_org:
          driver = smtp
          max_parallel = 1
          connection_max_messages = 2
          max_rcpt = 1

        # /etc/exim4/conf.d/retry/10_deferwatch_slow_example_org: retry rules before the catch-all
        # * rule (a single exim4.conf: first in begin retry)
        example.org  *  F,2h,15m; G,16h,1h,1.5; F,4d,6h

        # then run:
        #   update-exim4.conf
        #   exim4 -bV
        #   systemctl reload exim4

        """

    // MARK: - Helpers

    static func event(_ i: Int, domain: String, relay: String, sent: Bool, mta: MTA,
                      text: String = "421-4.7.28 Our system has detected an unusual rate of unsolicited mail originating from your IP address. - gsmtp") -> DeliveryEvent {
        var e = DeliveryEvent(time: t0 + Int64(i) * 1_000_000, mta: mta, host: "mx1", queueID: "Q\(i)", recipient: "u\(i)@\(domain)",
                              domain: domain, status: sent ? .sent : .deferred, relay: relay, text: sent ? "250 ok" : text)
        e.provider = rules.providerIndex(relay: e.relay, domain: domain).map { rules.providers[$0].name }
        e.cause = sent ? nil : (text.contains("4.7.28") ? .rateLimit : .connectionLimit)
        return e
    }
}
