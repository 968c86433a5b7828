import DeferWatchCore
import Testing

/// The identity checks as pure functions of recorded DNS answers (the real DNS server's
/// tests are in DeferWatchDaemonTests/DNSCheckTests).
@Suite struct IdentityCheckTests {
    func verdicts(_ f: [Finding]) -> [String] { f.map { "\($0.check)=\($0.verdict.rawValue)" } }

    @Test func genericPTRNamesAreRecognisedAndMailHostNamesAreNot() {
        let ip = IPAddress("203.0.113.6")!
        for name in ["dsl-203-0-113-6.pool.example.net", "6.113.0.203.static.example.net", "cpe-203-0-113-6.res.example.com",
                     "dynamic-host.example.net", "ppp123.isp.example", "host-203-0-113-6.example.net"] {
            #expect(IdentityChecker.genericSign(name, ip: ip) != nil, "\(name)")
        }
        for name in ["mail.example.org", "mx1.mail.example.net", "smtp-out-2.example.com", "usermail.example.org", "example.org"] {
            #expect(IdentityChecker.genericSign(name, ip: ip) == nil, "\(name)")
        }
    }

    @Test func reverseNamesOfBothFamilies() {
        #expect(IPAddress("203.0.113.5")!.reverseName == "5.113.0.203.in-addr.arpa")
        #expect(IPAddress("2001:db8::1")!.reverseName
                == "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa")
        #expect(IPAddress("203.0.113.5")!.listed(in: "bl.example") == "5.113.0.203.bl.example")
        #expect(IPAddress("2001:DB8::1")!.description == "2001:db8::1")
        #expect(IPAddress("203.0.113") == nil)
        #expect(IPAddress("mail.example.org") == nil)
    }

    @Test func organisationalDomainHeuristic() {
        #expect(IdentityChecker.organisationalDomain("mail.example.org") == "example.org")
        #expect(IdentityChecker.organisationalDomain("example.org") == "example.org")
        #expect(IdentityChecker.organisationalDomain("news.example.co.uk") == "example.co.uk")
        #expect(IdentityChecker.organisationalDomain("a.b.example.com.au") == "example.com.au")
    }

    @Test func aNullMXOrNothingToReceiveIsAProblem() {
        var r = RecordedResolver()
        r.add("nullmx.example", .mx, "0 .")
        r.add("aonly.example", .a, "192.0.2.1")
        r.add("nothing.example", .txt, "v=spf1 -all")
        r.add("good.example", .mx, "10 mx.good.example")
        let c = IdentityChecker(resolver: r)
        #expect(c.mail("nullmx.example").short == "mx=null")
        #expect(c.mail("aonly.example").verdict == .ok)
        #expect(c.mail("nothing.example").short == "mx=none")
        #expect(c.mail("missing.example").short == "mx=nxdomain")
        #expect(c.mail("good.example").verdict == .ok)
    }

    @Test func dmarcRecordsAndTheirFaults() {
        var r = RecordedResolver()
        r.add("_dmarc.example.org", .txt, "v=DMARC1; p=quarantine; adkim=s")
        r.add("_dmarc.two.example", .txt, "v=DMARC1; p=none", "v=DMARC1; p=reject")
        r.add("_dmarc.bad.example", .txt, "v=DMARC1; rua=mailto:x@bad.example")
        r.add("_dmarc.spf.example", .txt, "v=spf1 -all")
        let c = IdentityChecker(resolver: r)
        let own = c.dmarc("example.org")
        #expect(own.short == "dmarc=quarantine")
        #expect(own.summary.contains("DKIM alignment strict"))
        // A subdomain without its own record: the organisational domain's.
        let sub = c.dmarc("news.example.org")
        #expect(sub.short == "dmarc=quarantine")
        #expect(sub.summary.contains("organisational domain example.org"))
        #expect(c.dmarc("two.example").short == "dmarc=multiple")
        #expect(c.dmarc("bad.example").short == "dmarc=invalid")
        #expect(c.dmarc("spf.example").short == "dmarc=none")
        #expect(c.dmarc("none.example").verdict == .problem)
    }

    @Test func dkimKeys() {
        var r = RecordedResolver()
        r.add("s1._domainkey.example.org", .txt, "v=DKIM1; k=rsa; p=MIIBIjAN")
        r.add("old._domainkey.example.org", .txt, "v=DKIM1; p=")
        r.add("ed._domainkey.example.org", .txt, "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS")
        r.add("txt._domainkey.example.org", .txt, "hello")
        let c = IdentityChecker(resolver: r)
        #expect(c.dkim("example.org", selector: "s1").short == "dkim=ok")
        #expect(c.dkim("example.org", selector: "ed").short == "dkim=ok")
        #expect(c.dkim("example.org", selector: "old").short == "dkim=revoked")
        #expect(c.dkim("example.org", selector: "txt").short == "dkim=invalid")
        #expect(c.dkim("example.org", selector: "nope").short == "dkim=missing")
    }

    @Test func noAnswerIsUnknownNeverAProblem() {
        var r = RecordedResolver()
        for name in ["5.113.0.203.in-addr.arpa", "mail.example.org", "example.org", "_dmarc.example.org",
                     "s1._domainkey.example.org", "5.113.0.203.bl.example", "example.org.dbl.example"] {
            for t in DNSType.allCases { r.set(name, t, .failed("timed out")) }
        }
        let c = IdentityChecker(resolver: r)
        let all = c.findings(ips: [IPAddress("203.0.113.5")!], helo: "mail.example.org", domains: ["example.org"],
                             selectors: ["s1"], blocklists: ["bl.example"], domainBlocklists: ["dbl.example"])
        #expect(all.count == 7)
        #expect(all.allSatisfy { $0.verdict == .unknown }, "\(verdicts(all))")
    }

    @Test func aPTRWhoseNameDoesNotAnswerIsUnknown() {
        var r = RecordedResolver()
        r.add("5.113.0.203.in-addr.arpa", .ptr, "mail.example.org")
        r.set("mail.example.org", .a, .failed("SERVFAIL"))
        r.set("mail.example.org", .aaaa, .failed("SERVFAIL"))
        let f = IdentityChecker(resolver: r).reverseDNS(IPAddress("203.0.113.5")!)
        #expect(verdicts(f) == ["ptr=ok", "fcrdns=unknown"])
    }

    @Test func anAddressLookupWithoutAnswerIsNotTakenForNone() {
        // A timed out, AAAA answered "no data": the name's IPv4 addresses are not known.
        var r = RecordedResolver()
        r.set("mail.example.org", .a, .failed("timed out"))
        r.set("mail.example.org", .aaaa, .noData)
        let f = IdentityChecker(resolver: r).helo("mail.example.org", ips: [IPAddress("203.0.113.5")!])
        #expect(f.short == "helo=unknown", "\(f)")
    }

    @Test func theShortFormPutsProblemsFirst() {
        var r = RecordedResolver()
        r.add("example.org", .mx, "10 mx.example.org")
        let c = IdentityChecker(resolver: r)
        let f = [c.mail("example.org"), c.dmarc("example.org")]
        #expect(f.shortForm == "dmarc=none mx=ok")
    }
}
