import DeferWatchCore
import DeferWatchDaemon
import DeferWatchTestSupport
import Foundation
import Testing

/// The daemon checks an alert's claim in DNS when it opens (a real DNS server on loopback,
/// dnsmasq, serving DNSCheckTests' zones), and a resolver that never answers changes
/// nothing of what the pipeline does.
@Suite(.serialized) struct AlertCheckTests {
    /// A Postfix deferral of message `i` at the world's clock, the receiver's reply `reply`.
    static func deferral(_ i: Int, _ world: InProcessDaemon.World, relay: String = "mx.example.com[192.0.2.9]",
                         domain: String = "example.com", reply: String) -> String {
        let t = CivilTime.rfc3339(world.clock.wall())
        return "\(t) mx1 postfix/smtp[1]: \(String(format: "C%09X", i)): to=<u\(i)@\(domain)>, relay=\(relay):25, delay=1, delays=0/0/0/1, dsn=4.7.0, status=deferred (host \(relay) said: \(reply) (in reply to RCPT TO command))\n"
    }

    static let ptrReply = "450 4.7.25 Client host rejected: cannot find your reverse hostname, [203.0.113.7]"

    func config(dns: String, checks: Bool = true, extra: String = "") -> String {
        """
        [dns]
        servers = ["\(dns)"]
        timeout = "1s"
        attempts = 1
        [checks]
        enabled = \(checks)
        interval = "0s"
        timeout = "3s"
        [identity]
        helo = "mail.example.org"
        \(extra)
        """
    }

    /// Steps the daemon (each step moves its clock 50 ms) until `condition`, up to 30 s of
    /// real time: the checks run on a real thread against a real server.
    func stepUntil(_ d: InProcessDaemon, _ condition: () -> Bool) -> Bool {
        eventually(timeout: 30, every: 2_000) {
            d.step()
            return condition()
        }
    }

    @Test func aReverseDNSAlertGetsItsFindings() throws {
        let dns = try DNSCheckTests.server()
        defer { dns.stop() }
        let world = try InProcessDaemon.World(extra: config(dns: dns.server, extra: "[alerts]\nremind_every = \"2m\""))
        let d = try InProcessDaemon(world)
        world.log.append((1...6).map { Self.deferral($0, world, reply: Self.ptrReply) }.joined())
        d.step(3)
        #expect(d.alerts.states == ["open 1"])
        #expect(d.alerts.all.first?.alert.cause == .reverseDNS)
        #expect(stepUntil(d) { !d.alerts.checks.isEmpty })
        let c = try #require(d.alerts.checks.first)
        #expect(c.alertID == 1)
        #expect(c.verdict == .confirmed)
        #expect(c.short == "ptr=missing helo=mismatch")
        #expect(c.identity.learned == ["ip 203.0.113.7 (named in the reply)", "helo mail.example.org ([identity] helo)"])

        // Syslog has the open line, then the checked line with checks= and the fix.
        let lines = world.syslogLines(atLeast: 2)
        let checked = try #require(lines.first { $0.contains("alert=checked") })
        #expect(checked.contains("id=1 severity=warning cause=reverse_dns scope=domain key=example.com checks=\"ptr=missing helo=mismatch\" verdict=confirmed"))
        #expect(checked.contains("203.0.113.7 has no PTR record"))
        #expect(checked.contains("fix=\"ask whoever holds 203.0.113.7"))

        // The status: the alert's findings, and the counts.
        d.run(seconds: 1.1)
        let status = try #require(d.status)
        let a = try #require(status.alerts.first)
        #expect(a.checks?.verdict == "confirmed")
        #expect(a.checks?.findings.map { "\($0.check)=\($0.verdict)" } == ["ptr=problem", "helo=problem"])
        #expect(a.checks?.findings.first?.evidence == ["7.113.0.203.in-addr.arpa PTR: NXDOMAIN"])
        #expect(status.checks?.claims == ["confirmed": 1])
        #expect(status.prometheusText(topDomains: 10).contains("deferwatch_claim_checks_total{verdict=\"confirmed\"} 1"))
        #expect(status.prometheusText(topDomains: 10).contains("deferwatch_check_findings_total{check=\"ptr\",verdict=\"problem\"} 1"))
        #expect(StatusReport.alertsText(status.alerts, detailed: true).contains("checked 2026-11-30T12:00:0"))

        // The reminder carries the findings, and the checks run again.
        for i in 7...12 { world.log.append(Self.deferral(i, world, reply: Self.ptrReply)) ; d.run(seconds: 25) }
        #expect(d.alerts.states.contains("remind 1"))
        let remind = try #require(world.syslogLines(atLeast: 4).first { $0.contains("alert=remind") })
        #expect(remind.contains("checks=\"ptr=missing helo=mismatch\""))
        #expect(stepUntil(d) { d.alerts.checks.count >= 2 })
        d.stop()
    }

    @Test func anAuthenticationAlertIsCheckedAgainstTheSenderDomain() throws {
        let dns = try DNSCheckTests.server()
        defer { dns.stop() }
        let world = try InProcessDaemon.World(extra: config(dns: dns.server, extra: "domains = [\"soft.example.net\"]"))
        let d = try InProcessDaemon(world)
        let reply = "421-4.7.26 [203.0.113.5] This mail has been rate limited because it is unauthenticated. Gmail requires all senders to authenticate with either SPF or DKIM. - gsmtp"
        world.log.append((1...6).map {
            Self.deferral($0, world, relay: "gmail-smtp-in.l.google.com[142.250.102.27]", domain: "gmail.com", reply: reply)
        }.joined())
        d.step(3)
        #expect(d.alerts.all.first?.alert.cause == .authentication)
        #expect(stepUntil(d) { !d.alerts.checks.isEmpty })
        let c = try #require(d.alerts.checks.first)
        #expect(c.verdict == .confirmed)
        #expect(c.short.hasPrefix("spf=softfail mx=none dmarc=none"))
        #expect(c.note.contains("SPF softfail: soft.example.net does not authorise 203.0.113.5"))
        d.stop()
    }

    @Test func theSenderDomainComesFromTheLog() throws {
        let dns = try DNSCheckTests.server()
        defer { dns.stop() }
        let world = try InProcessDaemon.World(extra: config(dns: dns.server))
        let d = try InProcessDaemon(world)
        let reply = "421-4.7.26 [203.0.113.5] This mail has been rate limited because it is unauthenticated. Gmail requires all senders to authenticate with either SPF or DKIM. - gsmtp"
        let t = CivilTime.rfc3339(world.clock.wall())
        world.log.append((1...6).map {
            "\(t) mx1 postfix/qmgr[2]: \(String(format: "C%09X", $0)): from=<shop@redirect.example.net>, size=900, nrcpt=1 (queue active)\n"
                + Self.deferral($0, world, relay: "gmail-smtp-in.l.google.com[142.250.102.27]", domain: "gmail.com", reply: reply)
        }.joined())
        d.step(3)
        #expect(d.alerts.all.first?.alert.senders == ["redirect.example.net"])
        #expect(stepUntil(d) { !d.alerts.checks.isEmpty })
        let c = try #require(d.alerts.checks.first)
        #expect(c.identity.learned.contains("domains redirect.example.net (senders of the deferred mail)"))
        // SPF passes through the redirect, but the domain has no DMARC record of its own
        // or of example.net.
        #expect(c.short.hasPrefix("mx=none dmarc=none"))
        #expect(c.short.contains("spf=pass"))
        d.run(seconds: 1.1)
        #expect(d.status?.alerts.first?.senders == ["redirect.example.net"])
        d.stop()
    }

    @Test func aResolverThatNeverAnswersChangesNothingTheDaemonDoes() throws {
        let silent = try SilentDNSServer()
        func run(checks: Bool) throws -> (states: [String], lines: StatusReport.LineStatus?, attempts: StatusReport.Attempts?, checks: [ClaimCheck]) {
            let world = try InProcessDaemon.World(extra: config(dns: silent.server, checks: checks))
            let d = try InProcessDaemon(world)
            for round in 0..<4 {
                world.log.append((1...5).map { Self.deferral(round * 10 + $0, world, reply: Self.ptrReply) }.joined())
                d.run(seconds: 2)
            }
            var found: [ClaimCheck] = []
            if checks {
                // The check ends at its timeout, undecided: never a problem, never a hang.
                _ = stepUntil(d) { !d.alerts.checks.isEmpty }
                found = d.alerts.checks
            }
            let out = (d.alerts.states, d.status?.lines, d.status?.attempts, found)
            d.stop()
            return out
        }
        let without = try run(checks: false)
        let with = try run(checks: true)
        #expect(with.states == without.states)
        #expect(with.states.first == "open 1")
        #expect(with.lines?.total == without.lines?.total)
        #expect(with.attempts == without.attempts)
        let c = try #require(with.checks.first)
        #expect(c.verdict == .undecided)
        #expect(c.findings.allSatisfy { $0.verdict == .unknown })
        #expect(c.short == "ptr=unknown helo=unknown")
    }
}
