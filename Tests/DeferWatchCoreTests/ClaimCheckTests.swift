import DeferWatchCore
import Testing

/// The checks of an alert's claim as pure functions of recorded DNS answers: which checks a
/// cause gets, how they judge the claim, the address a reply names, the answer cache.
@Suite struct ClaimCheckTests {
    static var dns: RecordedResolver {
        var r = RecordedResolver()
        r.add("5.113.0.203.in-addr.arpa", .ptr, "mail.example.org")
        r.add("mail.example.org", .a, "203.0.113.5")
        r.add("example.org", .mx, "10 mail.example.org")
        r.add("_dmarc.example.org", .txt, "v=DMARC1; p=reject")
        r.add("s1._domainkey.example.org", .txt, "v=DKIM1; k=rsa; p=MIIB")
        r.set("7.113.0.203.in-addr.arpa", .ptr, .nxdomain)
        return r
    }

    func identity(_ ip: String, helo: String? = nil, domains: [String] = [], blocklists: [String] = []) -> SendingIdentity {
        var id = SendingIdentity()
        id.ips = [IPAddress(ip)!]
        id.helo = helo
        id.domains = domains
        id.selectors = domains.isEmpty ? [] : ["s1"]
        id.blocklists = blocklists
        id.learned = ["ip \(ip) (test)"]
        return id
    }

    @Test func aMissingPTRConfirmsAReverseDNSClaim() {
        let c = IdentityChecker(resolver: Self.dns).check(alertID: 3, cause: .reverseDNS, identity: identity("203.0.113.7"), time: 0)
        #expect(c.verdict == .confirmed)
        #expect(c.short == "ptr=missing")
        #expect(c.note.contains("203.0.113.7 has no PTR record"))
        #expect(c.logLine(alert: nil).hasPrefix("alert=checked id=3 severity=- cause=reverse_dns checks=\"ptr=missing\" verdict=confirmed"))
        #expect(c.logLine(alert: nil).contains("fix=\"ask whoever holds 203.0.113.7"))
    }

    @Test func aForwardConfirmedPTRContradictsIt() {
        let c = IdentityChecker(resolver: Self.dns).check(alertID: 1, cause: .reverseDNS,
                                                          identity: identity("203.0.113.5", helo: "mail.example.org"), time: 0)
        #expect(c.verdict == .contradicted)
        #expect(c.short == "ptr=ok fcrdns=ok helo=ok")
        #expect(c.note == "receiver says reverse dns; PTR 203.0.113.5 -> mail.example.org -> 203.0.113.5 is forward-confirmed: look at the receiver's policy (some want the PTR to match the HELO name)")
    }

    @Test func authenticationWeighsSPFDMARCDKIMAndMX() {
        // No SPF evaluator: SPF is not weighed; what is checked passes.
        let c = IdentityChecker(resolver: Self.dns).check(alertID: 1, cause: .authentication,
                                                          identity: identity("203.0.113.5", domains: ["example.org"]), time: 0)
        #expect(c.findings.map(\.check) == ["ptr", "mx", "dmarc", "dkim"])
        #expect(c.verdict == .contradicted)
        // A domain without DMARC confirms it.
        var dns = Self.dns
        dns.add("example.net", .mx, "10 mx.example.net")
        let d = IdentityChecker(resolver: dns).check(alertID: 1, cause: .authentication,
                                                     identity: identity("203.0.113.5", domains: ["example.net"]), time: 0)
        #expect(d.verdict == .confirmed)
        #expect(d.short.hasPrefix("dmarc=none dkim=missing"))
        // Without a sender domain it cannot say.
        let e = IdentityChecker(resolver: Self.dns).check(alertID: 1, cause: .authentication, identity: identity("203.0.113.5"), time: 0)
        #expect(e.verdict == .undecided)
        #expect(e.note.contains("no sender domain known"))
    }

    @Test func reputationWithoutBlocklistsCannotDecide() {
        let c = IdentityChecker(resolver: Self.dns).check(alertID: 1, cause: .reputation, identity: identity("203.0.113.5"), time: 0)
        #expect(c.verdict == .undecided)
        #expect(c.note.contains("no blocklists are configured"))
        var dns = Self.dns
        dns.add("5.113.0.203.bl.test", .a, "127.0.0.2")
        let d = IdentityChecker(resolver: dns).check(alertID: 1, cause: .reputation, identity: identity("203.0.113.5", blocklists: ["bl.test"]), time: 0)
        #expect(d.verdict == .confirmed)
        #expect(d.short == "dnsbl=listed")
        let e = IdentityChecker(resolver: Self.dns).check(alertID: 1, cause: .reputation, identity: identity("203.0.113.5", blocklists: ["bl.test"]), time: 0)
        #expect(e.verdict == .contradicted)
    }

    @Test func unansweredChecksNeverConfirm() {
        var dns = RecordedResolver()
        dns.set("7.113.0.203.in-addr.arpa", .ptr, .failed("timed out"))
        let c = IdentityChecker(resolver: dns).check(alertID: 1, cause: .reverseDNS, identity: identity("203.0.113.7"), time: 0)
        #expect(c.verdict == .undecided)
        #expect(c.short == "ptr=unknown")
        let none = IdentityChecker(resolver: dns).check(alertID: 1, cause: .reverseDNS, identity: SendingIdentity(), time: 0)
        #expect(none.verdict == .undecided)
        #expect(none.short == "none")
    }

    @Test func theAddressAReplyNamesNotTheRelays() {
        func named(_ s: String) -> [String] { SendingIdentity.addressesNamed(in: s).map(\.description) }
        // Postfix: the relay's address comes before the reply.
        #expect(named("host gmail-smtp-in.l.google.com[142.250.102.27] said: 421-4.7.26 [203.0.113.5] This mail has been rate limited because it is unauthenticated. (in reply to end of DATA command)") == ["203.0.113.5"])
        #expect(named("host mx[192.0.2.1] said: 450 4.7.25 Client host rejected: cannot find your reverse hostname, [203.0.113.7] (in reply to RCPT TO command)") == ["203.0.113.7"])
        // Exim: H=name [address] before the reply.
        #expect(named("H=mx.example.com [192.0.2.1]: SMTP error from remote mail server after RCPT TO:<a@example.com>: 421 4.7.0 [TSS04] Messages from 203.0.113.9 temporarily deferred") == ["203.0.113.9"])
        #expect(named("host mx[192.0.2.1] said: 451 4.7.650 The mail server [2001:db8::25] has been temporarily rate limited") == ["2001:db8::25"])
        // Codes, versions, loopback and addresses glued to names are not addresses.
        #expect(named("host mx[192.0.2.1] said: 421 4.7.28 try again at 10.30 from 127.0.0.1, see host-203.0.113.5x") == [])
        #expect(named("connect to mx.example.com[192.0.2.1]:25: Connection timed out") == [])
    }

    @Test func theCacheKeepsAnswersForTheirTTL() {
        final class Counting: DNSResolver {
            var asked = 0
            func query(_ name: String, _ type: DNSType) -> DNSAnswer {
                asked += 1
                return name.hasPrefix("fail") ? .failed("timed out") : name.hasPrefix("nx") ? .nxdomain : .records([DNSRecord(.a, "192.0.2.1", ttl: 120)])
            }
        }
        var now = 0.0
        let upstream = Counting()
        let cache = CachingResolver(upstream, now: { now })
        _ = cache.query("a.example", .a)
        _ = cache.query("A.example", .a)
        #expect(upstream.asked == 1)
        now = 119
        _ = cache.query("a.example", .a)
        #expect(upstream.asked == 1)
        now = 121
        _ = cache.query("a.example", .a)
        #expect(upstream.asked == 2)
        _ = cache.query("nx.example", .a)
        now += 299
        _ = cache.query("nx.example", .a)
        #expect(upstream.asked == 3)
        _ = cache.query("fail.example", .a)
        now += 31
        _ = cache.query("fail.example", .a)
        #expect(upstream.asked == 5)
        cache.capacity = 2
        for i in 0..<10 { _ = cache.query("n\(i).example", .a) }
        #expect(cache.count <= 3)
    }

    @Test func theDeadlineEndsEveryLookupAfterIt() {
        var now = 0.0
        let r = DeadlineResolver(Self.dns, now: { now }, timeout: 5)
        #expect(r.query("mail.example.org", .a).records.count == 1)
        now = 5
        #expect(r.query("mail.example.org", .a) == .failed("the check's time ran out"))
    }
}

/// The SPF mechanism that decided, walked over recorded answers.
@Suite struct SPFMechanismTests {
    @Test func theFirstMatchingMechanismIsNamed() {
        var r = RecordedResolver()
        r.add("example.org", .txt, "v=spf1 a:mail.example.org/30 ip6:2001:db8::/32 include:_spf.example.net exists:%{i}.x.example ~all")
        r.add("mail.example.org", .a, "203.0.113.5")
        r.add("_spf.example.net", .txt, "v=spf1 ip4:198.51.100.0/24 -all")
        r.add("plain.example", .txt, "v=spf1 mx:example.org")
        r.add("example.org", .mx, "10 mail.example.org")
        let f = SPFMechanismFinder(resolver: r)
        #expect(f.decide("example.org", ip: IPAddress("203.0.113.6")!)?.mechanism == "a:mail.example.org/30 of example.org")
        #expect(f.decide("example.org", ip: IPAddress("2001:db8::9")!)?.mechanism == "ip6:2001:db8::/32 of example.org")
        #expect(f.decide("example.org", ip: IPAddress("198.51.100.200")!)?.mechanism
                == "include:_spf.example.net of example.org -> ip4:198.51.100.0/24 of _spf.example.net")
        // A macro it does not expand: no answer rather than a wrong one.
        #expect(f.decide("example.org", ip: IPAddress("192.0.2.1")!) == nil)
        #expect(f.decide("plain.example", ip: IPAddress("203.0.113.5")!)?.result == .pass)
        #expect(f.decide("plain.example", ip: IPAddress("192.0.2.1")!)?.result == .neutral)
        #expect(f.decide("nothing.example", ip: IPAddress("192.0.2.1")!) == nil)
        #expect(IPAddress("203.0.113.77")!.within(IPAddress("203.0.113.64")!, prefix: 26))
        #expect(!IPAddress("203.0.113.77")!.within(IPAddress("203.0.113.64")!, prefix: 29))
    }
}

/// DMARC's SPF alignment with the envelope domains the logs showed.
@Suite struct DMARCAlignmentTests {
    @Test func relaxedAndStrictAlignment() {
        var r = RecordedResolver()
        r.add("_dmarc.example.org", .txt, "v=DMARC1; p=reject")
        r.add("_dmarc.strict.example", .txt, "v=DMARC1; p=quarantine; aspf=s")
        let c = IdentityChecker(resolver: r)
        #expect(c.dmarc("example.org", envelope: ["bounce.example.org"]).summary.hasSuffix("; SPF can align with the envelope domain bounce.example.org"))
        #expect(c.dmarc("example.org", envelope: ["mail.esp.example"]).summary
                .hasSuffix("; SPF cannot align with the envelope domains seen (mail.esp.example): DMARC passes only through an aligned DKIM signature"))
        #expect(c.dmarc("strict.example", envelope: ["bounce.strict.example"]).summary.contains("SPF cannot align"))
        #expect(c.dmarc("strict.example", envelope: ["Strict.Example"]).summary.hasSuffix("SPF can align with the envelope domain strict.example"))
        #expect(c.dmarc("example.org").summary == "DMARC policy reject, SPF alignment relaxed, DKIM alignment relaxed")
    }
}
